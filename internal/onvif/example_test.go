package onvif_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"vigil/internal/onvif"
)

// A doorbell served by the device side, and the hub's side of it: the
// clock and services first, then the profiles and their streams, then a
// press pulled from the event service.
func Example() {
	door := onvif.NewServer(onvif.Device{
		Info: onvif.DeviceInfo{Manufacturer: "Vigil", Model: "doorbell"},
		Profiles: []onvif.DeviceProfile{{
			Profile: onvif.Profile{
				Token: "main", Name: "Main",
				Video:       &onvif.VideoEncoder{Encoding: "H264", Width: 1920, Height: 1080, FrameRate: 25},
				Audio:       &onvif.AudioEncoder{Encoding: "G711", Bitrate: 64, SampleRate: 8},
				AudioOutput: true,
			},
			StreamURI: "rtsp://127.0.0.1:8554/door",
		}},
		Username: "admin", Password: "secret",
	})
	defer door.Close()
	hs := httptest.NewServer(door)
	defer hs.Close()

	ctx := context.Background()
	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: hs.URL + onvif.DevicePath, Username: "admin", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range profiles {
		uri, err := c.StreamURI(ctx, p.Token)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.Name, p.Video.Encoding, p.Video.Width, p.Video.Height, p.Audio.Encoding, "talk-back:", p.AudioOutput, uri)
	}

	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	door.Publish(onvif.Event{
		Topic:  "Device/Trigger/DigitalInput",
		Source: []onvif.Item{{Name: "InputToken", Value: "DIGIT_INPUT_000"}},
		Data:   []onvif.Item{{Name: "LogicalState", Value: "true"}},
	})
	events, err := sub.Pull(ctx, 5*time.Second, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		pressed, _ := e.Active()
		fmt.Println(e.Topic, e.Kind(), pressed)
	}
	// Output:
	// Main H264 1920 1080 G711 talk-back: true rtsp://127.0.0.1:8554/door
	// Device/Trigger/DigitalInput digital-input true
}
