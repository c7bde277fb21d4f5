package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"vigil/internal/onvif"
	"vigil/internal/softcam"
)

// defaultControl is the doorbell's HTTP control endpoint unless --control
// says otherwise.
const defaultControl = "127.0.0.1:8555"

// The doorbell's ONVIF device service and account unless --onvif,
// --onvif-user and --onvif-password say otherwise.
const (
	defaultONVIF         = "127.0.0.1:8556"
	defaultONVIFUser     = "admin"
	defaultONVIFPassword = "vigil-doorbell"
)

func runCamera(e env) error {
	if ok, err := dispatchSubcommand(&e, cameraSubs()); ok {
		return err
	}
	fs := newFlags(e, "camera", "[--file PATH] [--listen HOST:PORT] [--path NAME]... [--doorbell [--onvif HOST:PORT]] [--audio pcmu|aac]\n"+
		"       vigil camera discover [--timeout 3s] [--target HOST:PORT]   find ONVIF cameras on this network\n"+
		"       vigil camera probe URL --user USER [--snapshot FILE] [--yaml]   show a camera's streams; print its config entry\n\n"+
		subcommandList("camera", cameraSubs())+"\n\n"+
		"Without a subcommand, serve a video file as a software camera (flags below).")
	file := fs.String("file", "", "video file to serve (default "+softcam.DefaultFile+")")
	listen := fs.String("listen", softcam.DefaultListen, "RTSP listen address")
	var paths stringList
	fs.Var(&paths, "path", "RTSP path to serve; repeat for several live streams (default cam)")
	udp := fs.Bool("udp", true, "also offer the UDP transport")
	cache := fs.String("cache", "", "directory for the prepared H.264 copy (default: user cache dir)")
	doorbell := fs.Bool("doorbell", false, "act as a doorbell: serve audio (pcmu unless --audio), offer the ONVIF audio back channel,\n"+
		"take button presses on POST /press at --control and on SIGUSR1 (listed at GET /presses),\n"+
		"and answer ONVIF at --onvif, found by WS-Discovery (--onvif-discovery)")
	audio := fs.String("audio", "", "serve an audio track with the video: pcmu (G.711 µ-law, 8 kHz) or aac (16 kHz)")
	audioFile := fs.String("audio-file", "", fmt.Sprintf("sound to serve, looped: a WAV file or anything ffmpeg reads (default: a %d Hz tone)", softcam.ToneHz))
	bursts := fs.Bool("audio-bursts", false, "serve silence, and the tone in a burst on each POST /burst at --control (answers when it left: for timing the audio path; pcmu, no --audio-file)")
	backOut := fs.String("backchannel-out", "", "write the audio received on the back channel to this WAV file (16-bit, 8 kHz, mono)")
	control := fs.String("control", "", "HTTP control endpoint (POST /press, GET /presses, GET /backchannel, POST /burst,\n"+
		"POST /motion and POST /tamper [?state=on|off], GET /alarms: the camera's own ONVIF alarms); no authentication, keep it on loopback\n"+
		"(default "+defaultControl+" with --doorbell, none otherwise)")
	onvifAddr := fs.String("onvif", "", "ONVIF device service (device, media, PullPoint events; a snapshot of the clip's first frame;\n"+
		"presses as tns1:Device/Trigger/DigitalInput events); \"off\" for none\n(default "+defaultONVIF+" with --doorbell, none otherwise)")
	onvifUser := fs.String("onvif-user", defaultONVIFUser, "ONVIF account's user name (WS-UsernameToken; HTTP digest for the snapshot)")
	onvifPassword := fs.String("onvif-password", defaultONVIFPassword, "ONVIF account's password (never logged); change it when --onvif is not on loopback")
	discovery := fs.String("onvif-discovery", "", "answer WS-Discovery probes with the ONVIF device service's URL: \"multicast\" (the group "+onvif.DiscoveryAddr+"),\n"+
		"a UDP HOST:PORT for unicast probes only, or \"off\" (default multicast with --onvif)")
	verbose := fs.Bool("v", false, "debug logs")
	statsFile := fs.String("stats-json", "", "on exit, write per-path frame counts as JSON to this file (for benchmarks)")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *doorbell {
		if *audio == "" {
			*audio = softcam.AudioPCMU
		}
		if *control == "" {
			*control = defaultControl
		}
		if *onvifAddr == "" {
			*onvifAddr = defaultONVIF
		}
	}
	if *onvifAddr == "off" {
		*onvifAddr = ""
	}
	if *onvifAddr != "" && !*doorbell {
		return fmt.Errorf("%w: --onvif needs --doorbell", ErrUsage)
	}
	switch {
	case *discovery == "off":
		*discovery = ""
	case *discovery == "" && *onvifAddr != "":
		*discovery = softcam.DiscoveryMulticast
	case *discovery != "" && *onvifAddr == "":
		return fmt.Errorf("%w: --onvif-discovery needs --onvif", ErrUsage)
	}
	if *backOut != "" && !*doorbell {
		return fmt.Errorf("%w: --backchannel-out needs --doorbell", ErrUsage)
	}
	if *audioFile != "" && *audio == "" {
		return fmt.Errorf("%w: --audio-file needs --audio or --doorbell", ErrUsage)
	}
	if *bursts && (*audio != softcam.AudioPCMU || *audioFile != "" || *control == "") {
		return fmt.Errorf("%w: --audio-bursts needs --doorbell (or --audio pcmu with --control), pcmu audio and no --audio-file", ErrUsage)
	}
	switch *audio {
	case "", softcam.AudioPCMU, softcam.AudioAAC:
	default:
		return fmt.Errorf("%w: --audio %q: want pcmu or aac", ErrUsage, *audio)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, level)
	cam, err := softcam.New(softcam.Config{
		File: *file, Listen: *listen, Paths: paths, CacheDir: *cache, UDP: *udp, Logger: log,
		Audio: *audio, AudioFile: *audioFile, AudioBursts: *bursts,
		BackChannel: *doorbell, BackChannelFile: *backOut,
		Control: *control,
		ONVIF:   *onvifAddr, ONVIFUser: *onvifUser, ONVIFPassword: *onvifPassword, Discovery: *discovery,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := cam.Start(ctx); err != nil {
		return err
	}
	defer cam.Close()
	if *doorbell {
		// Registered before the URLs are printed, so whoever waits for
		// them may press at once.
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		done := make(chan struct{})
		pressed := make(chan struct{})
		defer func() { close(done); <-pressed }()
		go func() {
			defer close(pressed)
			for {
				select {
				case <-done:
					return
				case <-usr1:
					cam.Press("signal")
				}
			}
		}()
	}
	info := cam.Info()
	if len(paths) == 0 {
		paths = []string{softcam.DefaultPath}
	}
	for _, p := range paths {
		fmt.Fprintln(e.stdout, cam.URL(p))
	}
	if addr := cam.ControlAddr(); addr != "" {
		fmt.Fprintln(e.stdout, "http://"+addr+"/press")
	}
	if addr := cam.ONVIFAddr(); addr != "" {
		fmt.Fprintln(e.stdout, "http://"+addr+onvif.DevicePath)
	}
	log.Info("software camera serving", "codec", info.Codec, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
		"fps", info.FPS, "loop", info.Duration.String(), "paths", len(paths), "audio", *audio, "doorbell", *doorbell)
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
