package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"vigil/internal/softcam"
)

func runCamera(e env) error {
	fs := newFlags(e, "camera", "[--file PATH] [--listen HOST:PORT] [--path NAME]...")
	file := fs.String("file", "", "video file to serve (default "+softcam.DefaultFile+")")
	listen := fs.String("listen", softcam.DefaultListen, "RTSP listen address")
	var paths stringList
	fs.Var(&paths, "path", "RTSP path to serve; repeat for several live streams (default cam)")
	udp := fs.Bool("udp", true, "also offer the UDP transport")
	cache := fs.String("cache", "", "directory for the prepared H.264 copy (default: user cache dir)")
	verbose := fs.Bool("v", false, "debug logs")
	statsFile := fs.String("stats-json", "", "on exit, write per-path frame counts as JSON to this file (for benchmarks)")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, level)
	cam, err := softcam.New(softcam.Config{File: *file, Listen: *listen, Paths: paths, CacheDir: *cache, UDP: *udp, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := cam.Start(ctx); err != nil {
		return err
	}
	defer cam.Close()
	info := cam.Info()
	if len(paths) == 0 {
		paths = []string{softcam.DefaultPath}
	}
	for _, p := range paths {
		fmt.Fprintln(e.stdout, cam.URL(p))
	}
	log.Info("software camera serving", "codec", info.Codec, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
		"fps", info.FPS, "loop", info.Duration.String(), "paths", len(paths))
	<-ctx.Done()
	log.Info("software camera stopping")
	if *statsFile != "" {
		b, err := json.Marshal(cam.Stats())
		if err != nil {
			return err
		}
		return os.WriteFile(*statsFile, b, 0o600)
	}
	return nil
}
