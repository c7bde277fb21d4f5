package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/config"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/onvif"
	"vigil/internal/softcam"
)

// talkHz is the microphone's tone in the talk tests: not the doorbell's
// own 440 Hz.
const talkHz = 1000

// startTalkHousehold is a live household whose camera "front" is a
// software doorbell: PCMU audio (softcam.ToneHz) and the ONVIF back
// channel, recorded to the returned WAV file.
func startTalkHousehold(t *testing.T) (*liveHousehold, string) {
	lh, wav, _ := startTalkDoorbell(t)
	return lh, wav
}

// startTalkDoorbell is startTalkHousehold with the doorbell's button
// too: its presses are ONVIF events the hub subscribes to (the returned
// channel is sent each subscription), and the cloud may push to a push
// service on loopback (the browser test's).
func startTalkDoorbell(t *testing.T) (*liveHousehold, string, <-chan string) {
	t.Helper()
	const password = "the doorbell's ONVIF password"
	wav := filepath.Join(t.TempDir(), "backchannel.wav")
	subscribed := make(chan string, 8)
	lh := startLiveHouseholdCam(t, func(o *cloud.Options) { o.Outbound.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} },
		softcam.Config{Audio: softcam.AudioPCMU, BackChannel: true, BackChannelFile: wav,
			ONVIF: "127.0.0.1:0", ONVIFUser: "admin", ONVIFPassword: password},
		func(cam *softcam.Server, cfg *config.Hub, o *hubd.Options) {
			cfg.Cameras[0].Doorbell = &config.Doorbell{ONVIF: &config.DoorbellONVIF{URL: "http://" + cam.ONVIFAddr() + onvif.DevicePath,
				Username: "admin", Password: password}, Interval: config.Duration(time.Second)}
			o.ONVIFSubscribed = func(c string) {
				select {
				case subscribed <- c:
				default:
				}
			}
		})
	return lh, wav, subscribed
}

// backChannelPCM reads the doorbell's back channel WAV file (16-bit mono
// 8 kHz after a 44-byte header).
func backChannelPCM(t *testing.T, file string) []float64 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || binary.LittleEndian.Uint32(b[24:]) != 8000 {
		t.Fatalf("%s is not the back channel's 8 kHz WAV file", file)
	}
	b = b[44:]
	out := make([]float64, len(b)/2)
	for i := range out {
		out[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	}
	return out
}

// toneDominance returns the power at hz of pcm (8 kHz), per sample, and
// how many times stronger it is than the strongest of a few other
// frequencies (the doorbell's own tone among them).
func toneDominance(pcm []float64, hz float64) (power, ratio float64) {
	g := func(f float64) float64 {
		c := 2 * math.Cos(2*math.Pi*f/8000)
		var s1, s2 float64
		for _, v := range pcm {
			s1, s2 = v+c*s1-s2, s1
		}
		return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(pcm)*len(pcm))
	}
	at, other := g(hz), 0.0
	for _, f := range []float64{softcam.ToneHz, hz * 0.7, hz * 1.5, 2500} {
		other = max(other, g(f))
	}
	return at, at / max(other, 1e-9)
}

// loudest returns the window of n samples of pcm with the most energy at
// hz (the talk within the file, which may start with silence).
func loudest(pcm []float64, hz float64, n int) []float64 {
	best, at := -1.0, 0
	for off := 0; off+n <= len(pcm); off += n / 4 {
		if p, _ := toneDominance(pcm[off:off+n], hz); p > best {
			best, at = p, off
		}
	}
	return pcm[at:min(len(pcm), at+n)]
}

// talkWatch connects a Go viewer that can talk, through the cloud.
func talkWatch(t *testing.T, lh *liveHousehold, keys *keydir.DeviceKeys) *live.Watch {
	t.Helper()
	w, _ := watchWith(t, lh, live.ViewerConfig{Household: lh.id(), Camera: "front", Keys: keys, Chain: lh.st,
		Net: live.NetOptions{Loopback: true}, Talk: true})
	return w
}

// mulawTone is n samples of a hz sine at 8 kHz in µ-law.
func mulawTone(t *testing.T, hz float64, n int) []byte {
	be := make([]byte, 2*n)
	for i := range n {
		binary.BigEndian.PutUint16(be[2*i:], uint16(int16(12000*math.Sin(2*math.Pi*hz*float64(i)/8000))))
	}
	enc, err := g711.Mulaw(be).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestTalkThroughHub: the paired hub's talk path, as the household's
// devices reach it through the cloud (which relays only the signalling):
// a member's microphone tone, sent in the live session's DTLS-SRTP,
// reaches the software doorbell's back channel; the camera keeps
// recording all the while.
func TestTalkThroughHub(t *testing.T) {
	lh, wav := startTalkHousehold(t)
	w := talkWatch(t, lh, lh.admin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recBefore := lh.hub.Stats()[0].FramesRecorded
	if err := w.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	tone := mulawTone(t, talkHz, 8000)
	for off := 0; off < len(tone); off += 160 {
		if err := w.Speak(tone[off : off+160]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for lh.cam.BackChannelStats().Packets < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("the doorbell's back channel got %+v, want 50 packets", lh.cam.BackChannelStats())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := w.Talk(ctx, false); err != nil {
		t.Fatal(err)
	}
	p, ratio := toneDominance(backChannelPCM(t, wav)[:8000], talkHz)
	if ratio < 100 || p < 1e5 {
		t.Errorf("the back channel's audio: power %.3g at %d Hz, %.1fx the other frequencies; want the microphone's tone", p, talkHz, ratio)
	}
	// Recording went on during the talk (the back channel is a session of
	// its own).
	for lh.hub.Stats()[0].FramesRecorded < recBefore+20 {
		select {
		case <-ctx.Done():
			t.Fatalf("the camera's recording stalled: %+v", lh.hub.Stats()[0])
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestTalkBrowser: in Chromium whose microphone is a 1 kHz tone (a fake
// capture device playing a WAV file), a member turns notifications on; a
// press on the software doorbell (an ONVIF event the hub subscribed to)
// rings: the cloud pushes the sealed ring, the service worker's opener
// shows it with Answer, which opens the doorbell's live view; the page
// hears the doorbell's 440 Hz tone (measured with the Web Audio
// API), holds the talk button (the microphone is asked for then, and only
// then, and let go some seconds after the last talk), and the doorbell's
// back channel receives the microphone's tone.
// Clicking toggles talking on and Enter off; while another device talks,
// the page says so and sends nothing.
func TestTalkBrowser(t *testing.T) {
	lh, wav, subscribed := startTalkDoorbell(t)
	// The hub is connected and has a group of pictures to start from.
	w, _ := watch(t, lh, lh.admin, live.NetOptions{Loopback: true}, nil)
	w.Close()

	mic := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(mic, toneWAV(talkHz, 48000, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bc := client.New(lh.cloud.url)
	email := fmt.Sprintf("talk%d-%d@example.com", os.Getpid(), accountSeq.Add(1))
	res, err := bc.SignUp(ctx, email, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	addMemberSigned(t, lh.c, lh.id(), lh.admin, email, keydir.RoleMember)
	recBefore := lh.hub.Stats()[0].FramesRecorded

	// Another device's talk, held while the page tries (/hold, /release).
	var other struct {
		sync.Mutex
		w *live.Watch
	}
	var marked struct {
		sync.Mutex
		at      time.Time
		samples uint64
	}
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/enrol":
			dev, err := keydir.ParseDevice(strings.TrimSpace(string(b)), keydir.RoleMember, "browser")
			if err != nil {
				http.Error(rw, err.Error(), 400)
				return
			}
			lh.addDevice(t, dev)
		case "/press":
			select {
			case <-subscribed:
			case <-time.After(30 * time.Second):
				http.Error(rw, "the hub did not subscribe to the doorbell's events", 500)
				return
			}
			lh.cam.Press("test")
		case "/mark":
			// The page is about to press talk: /heard answers how long
			// until the doorbell's back channel got audio after this.
			marked.Lock()
			marked.at, marked.samples = time.Now(), lh.cam.BackChannelStats().Samples
			marked.Unlock()
		case "/heard":
			marked.Lock()
			at, n := marked.at, marked.samples
			marked.Unlock()
			for lh.cam.BackChannelStats().Samples <= n {
				if time.Since(at) > 20*time.Second {
					http.Error(rw, "no audio at the doorbell", 500)
					return
				}
				time.Sleep(time.Millisecond)
			}
			fmt.Fprint(rw, time.Since(at).Milliseconds())
		case "/samples":
			fmt.Fprint(rw, lh.cam.BackChannelStats().Samples)
		case "/hold":
			other.Lock()
			defer other.Unlock()
			tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := other.w.Talk(tctx, true); err != nil {
				http.Error(rw, err.Error(), 500)
			}
		case "/release":
			other.Lock()
			defer other.Unlock()
			tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := other.w.Talk(tctx, false); err != nil {
				http.Error(rw, err.Error(), 500)
			}
		}
	}))
	t.Cleanup(hook.Close)
	other.w = talkWatch(t, lh, lh.admin)

	var out struct {
		Ring struct {
			Title              string   `json:"title"`
			Body               string   `json:"body"`
			URL                string   `json:"url"`
			TalkURL            string   `json:"talkUrl"`
			Actions            []string `json:"actions"`
			RequireInteraction bool     `json:"requireInteraction"`
			PushMs             float64  `json:"pushMs"`
			PayloadHasCamera   bool     `json:"payloadHasCamera"`
		} `json:"ring"`
		FirstFrameMs float64 `json:"firstFrameMs"`
		Sound        struct {
			ToneDB  float64 `json:"toneDb"`
			OtherDB float64 `json:"otherDb"`
			Err     string  `json:"err"`
		} `json:"sound"`
		TalkShown     bool   `json:"talkShown"`
		MicAsksBefore int    `json:"micAsksBefore"`
		MicAsksAfter  int    `json:"micAsksAfter"`
		MicReleased   bool   `json:"micReleased"`
		HoldState     string `json:"holdState"`
		HoldPressed   string `json:"holdPressed"`
		HoldNote      string `json:"holdNote"`
		HoldLabel     string `json:"holdLabel"`
		ReleasedState string `json:"releasedState"`
		ReleasedNote  string `json:"releasedNote"`
		SamplesHold   int    `json:"samplesDuringHold"`
		PressToHeard  int    `json:"pressToHeardMs"`
		ClickState    string `json:"clickState"`
		KeyState      string `json:"keyState"`
		BusyState     string `json:"busyState"`
		BusyNote      string `json:"busyNote"`
		Err           string `json:"err"`
		Answer        struct {
			Talking bool   `json:"talking"`
			Sound   bool   `json:"sound"`
			Samples int    `json:"samples"`
			Note    string `json:"note"`
			Stopped bool   `json:"stopped"`
		} `json:"answer"`
	}
	browsertest.Run(t, 3*time.Minute, "talk.mjs", map[string]string{
		"BASE_URL": lh.cloud.url, "HOOK_URL": hook.URL, "EMAIL": email, "PASSWORD": "a long enough password",
		"TOTP_SECRET": res.TOTPSecret, "HOUSEHOLD": lh.id(), "CAMERA": "front",
		"AUDIO_HZ": fmt.Sprint(softcam.ToneHz), "MIC_WAV": mic,
	}, &out)
	t.Logf("page: %+v", out)
	if out.Err != "" {
		t.Fatalf("talk.mjs: %s", out.Err)
	}
	// The press rang: the cloud pushed a sealed payload that the service
	// worker opens into a ring whose Answer opens the doorbell's live view.
	r := out.Ring
	t.Logf("press to push delivered: %.0f ms; talk button pressed to the first audio at the doorbell's speaker: %d ms (the back channel opened meanwhile)", r.PushMs, out.PressToHeard)
	if r.Title != "Ring at front" || r.URL != "/h/"+lh.id()+"/cam/front/live" || !slices.Equal(r.Actions, []string{"answer", "talk"}) || r.TalkURL != r.URL+"?talk=1" || !r.RequireInteraction {
		t.Errorf("the ring's notification: %+v; want a ring at front answering to its live view, and talking", r)
	}
	// Its Talk action opens the live view talking (the microphone was
	// allowed), with the doorbell's sound on.
	if a := out.Answer; !a.Talking || !a.Sound || a.Samples <= 0 || !strings.Contains(a.Note, "Talking") || !a.Stopped {
		t.Errorf("the ring's Talk action: %+v; want talking at once with the sound on, the doorbell hearing it, and a press to stop", a)
	}
	if r.PayloadHasCamera {
		t.Error("the pushed message names the camera in the clear")
	}
	// The doorbell's sound reaches the page.
	if out.Sound.Err != "" || out.Sound.ToneDB < -60 || out.Sound.ToneDB-out.Sound.OtherDB < 30 {
		t.Errorf("the page hears %.1f dB at %d Hz against %.1f dB elsewhere (%s): want the doorbell's tone", out.Sound.ToneDB, softcam.ToneHz, out.Sound.OtherDB, out.Sound.Err)
	}
	// Push to talk: the microphone is asked for on the first press only.
	if !out.TalkShown || out.MicAsksBefore != 0 || out.MicAsksAfter != 1 {
		t.Errorf("talk button shown %v; microphone asked %d times before the first press, %d after three talks; want shown, 0, 1", out.TalkShown, out.MicAsksBefore, out.MicAsksAfter)
	}
	if !out.MicReleased {
		t.Error("the microphone was still open long after the last talk")
	}
	if out.HoldState != "on" || out.HoldPressed != "true" || out.HoldLabel != "Stop talking" || !strings.Contains(out.HoldNote, "Talking") {
		t.Errorf("holding the talk button: state %q, pressed %q, label %q, note %q; want talking, shown", out.HoldState, out.HoldPressed, out.HoldLabel, out.HoldNote)
	}
	if out.ReleasedState != "off" || out.ReleasedNote != "Microphone off" {
		t.Errorf("released: state %q, note %q; want off, \"Microphone off\"", out.ReleasedState, out.ReleasedNote)
	}
	if out.ClickState != "on" || out.KeyState != "off" {
		t.Errorf("a click turned talking %q, Enter then %q; want on, off", out.ClickState, out.KeyState)
	}
	if out.BusyState != "refused" || !strings.Contains(out.BusyNote, "Someone else") {
		t.Errorf("while another device talks: state %q, note %q; want a refusal saying so", out.BusyState, out.BusyNote)
	}
	// The microphone's tone is in the doorbell's back channel.
	pcm := backChannelPCM(t, wav)
	if len(pcm) < 8000 {
		t.Fatalf("the back channel received %d samples, want over a second", len(pcm))
	}
	p, ratio := toneDominance(loudest(pcm, talkHz, 8000), talkHz)
	t.Logf("back channel: %d samples, %+v; %d Hz power %.3g, %.0fx the other frequencies", len(pcm), lh.cam.BackChannelStats(), talkHz, p, ratio)
	if ratio < 30 || p < 1e4 {
		t.Errorf("the back channel's audio: power %.3g at %d Hz, %.1fx the other frequencies; want the microphone's tone", p, talkHz, ratio)
	}
	// And nothing else: every 200 ms of sound in the file is that tone.
	sounding, toned := 0, 0
	for off := 0; off+1600 <= len(pcm); off += 1600 {
		win := pcm[off : off+1600]
		var e float64
		for _, v := range win {
			e += v * v
		}
		if e/1600 < 1e4 { // quieter than about -30 dBFS: silence between talks
			continue
		}
		sounding++
		if _, r := toneDominance(win, talkHz); r > 30 {
			toned++
		}
	}
	if sounding < 10 || toned < sounding*9/10 {
		t.Errorf("of %d windows of 200 ms with sound in the back channel, %d carry the microphone's tone; want nearly all", sounding, toned)
	}
	if st := lh.cam.BackChannelStats(); st.Talks < 3 || st.Busy != 0 {
		t.Errorf("the doorbell's back channel: %+v; want the page's talks (hold, click, and the other device's), never two at once", st)
	}
	if n := lh.hub.Stats()[0].FramesRecorded; n < recBefore+50 {
		t.Errorf("the camera's recording: %d frames recorded before the page, %d after; want it to go on", recBefore, n)
	}
}

// toneWAV is a 16-bit mono WAV file of secs seconds of a hz sine at rate.
func toneWAV(hz float64, rate, secs int) []byte {
	n := rate * secs
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(int16(12000*math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))))
	}
	return b
}
