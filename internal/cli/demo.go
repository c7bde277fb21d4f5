package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/softcam"
)

func runDemo(e env) error {
	fs := newFlags(e, "demo", "[--data DIR] [--file VIDEO] [--listen HOST:PORT]")
	data := fs.String("data", "demo-data", "directory for the demo household key and the hub's recordings")
	file := fs.String("file", "", "video for the software camera (default "+softcam.DefaultFile+")")
	listen := fs.String("listen", "127.0.0.1:0", "software camera RTSP address")
	verbose := fs.Bool("v", false, "debug logs")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, level)
	abs, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	idPath := filepath.Join(abs, "household.key")
	recipient, err := demoIdentity(idPath)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cam, err := softcam.New(softcam.Config{File: *file, Listen: *listen, Paths: []string{"front"}, Logger: log.With("component", "camera")})
	if err != nil {
		return err
	}
	if err := cam.Start(ctx); err != nil {
		return err
	}
	defer cam.Close()

	cfg := &config.Hub{
		Data:            filepath.Join(abs, "hub"),
		Recipients:      []string{recipient},
		Cameras:         []config.Camera{{Name: "front", URL: cam.URL("front")}},
		Retention:       config.Retention{MaxBytes: 2 << 30, MaxAge: config.Duration(7 * 24 * time.Hour)},
		SegmentDuration: config.Duration(4 * time.Second),
	}
	cfg.ApplyDefaults()
	h, err := hubd.New(cfg, hubd.Options{Logger: log.With("component", "hub")})
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	rel := *data
	fmt.Fprintf(e.stdout, `
Vigil demo is running.
  software camera  %s
  household key    %s  (recipient %s)
  sealed footage   %s

Every ~4 s a segment is sealed to the household key before it touches the disk.
In another terminal:
  %[10]s recordings list --data %[5]s
  %[10]s recordings export --data %[6]s --camera front --from %[7]s --to %[8]s \
      --identity %[9]s -o clip.mp4
Press Ctrl-C to stop (the open segment is sealed and kept).
`, cam.URL("front"), filepath.Join(rel, "household.key"), recipient, filepath.Join(rel, "hub", "segments"),
		filepath.Join(rel, "hub"), filepath.Join(rel, "hub"), time.Now().UTC().Truncate(time.Second).Format(time.RFC3339),
		time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339), filepath.Join(rel, "household.key"), selfName())
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping…")
	return h.Close()
}

// selfName is how the user can run this binary again from the current
// directory: ./bin/vigil after 'make demo', or plain vigil from PATH.
func selfName() string {
	exe, err := os.Executable()
	if err != nil {
		return "vigil"
	}
	wd, err := os.Getwd()
	if err != nil {
		return "vigil"
	}
	rel, err := filepath.Rel(wd, exe)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "vigil"
	}
	return "./" + rel
}

// demoIdentity loads the demo household identity, creating it on first run,
// and returns its recipient string.
func demoIdentity(path string) (string, error) {
	ids, err := readIdentities(path)
	if err == nil {
		if x, ok := ids[0].(*envelope.X25519Identity); ok {
			return x.Recipient().String(), nil
		}
		return "", fmt.Errorf("%s: not an X25519 identity", path)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		return "", err
	}
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("# Vigil demo household identity.\n# recipient: %s\n%s\n", id.Recipient(), id)
	if err := keydir.WriteSecretFile(path, []byte(text)); err != nil {
		return "", err
	}
	return strings.TrimSpace(id.Recipient().String()), nil
}
