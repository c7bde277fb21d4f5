package hubwatch

import (
	"fmt"
	"time"
)

// Words says d the way a person would, rounded down to its largest unit:
// "45 seconds", "1 minute", "3 hours", "2 days".
func Words(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d < time.Minute:
		return unit(max(int64(d/time.Second), 0), "second")
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}

// Bytes says n in the largest unit of 1024 that keeps it at least 1:
// "512 bytes", "3.5 MB", "120 GB".
func Bytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", max(n, 0))
	}
	f := float64(n)
	for _, u := range []string{"KB", "MB", "GB", "TB"} {
		f /= 1024
		if f < 1024 || u == "TB" {
			if f < 10 {
				return fmt.Sprintf("%.1f %s", f, u)
			}
			return fmt.Sprintf("%.0f %s", f, u)
		}
	}
	return ""
}
