package upload

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/segstore"
)

// The child process of TestCrashBetweenStoreAndUpload: a hub that stores
// segments, and uploads them when asked, until it is killed.
const crashEnv = "VIGIL_UPLOAD_CRASH_CHILD"

// TestMain runs the child's part instead of the tests when the test binary
// is started as the child.
func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		if err := crashChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild stores segments from seq FROM to TO-1 of camera "cam" in DIR,
// says "stored", then (with CLOUD set) uploads, and waits to be killed.
func crashChild() error {
	env := func(k string) string { return os.Getenv(crashEnv + "_" + k) }
	seed, err := hex.DecodeString(env("SEED"))
	if err != nil {
		return err
	}
	key := ed25519.NewKeyFromSeed(seed)
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		return err
	}
	from, _ := strconv.Atoi(env("FROM"))
	to, _ := strconv.Atoi(env("TO"))
	ctx := context.Background()
	st, err := segstore.Open(ctx, env("DIR"), segstore.Options{})
	if err != nil {
		return err
	}
	for seq := from; seq < to; seq++ {
		start := baseTime.Add(time.Duration(seq) * 4 * time.Second)
		sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "cam", Sequence: uint64(seq), Start: start},
			start.Add(4*time.Second), key, make([]byte, 2000), id.Recipient())
		if err != nil {
			return err
		}
		if _, err := st.Put(ctx, segstore.Meta{Camera: "cam", Seq: uint64(seq), Start: start, End: start.Add(4 * time.Second),
			Codec: "H264", Keyframes: 1, Frames: 100}, sealed); err != nil {
			return err
		}
	}
	fmt.Println("stored")
	if env("CLOUD") != "" {
		u, err := New(Config{CloudURL: env("CLOUD"), DeviceID: testDevice, Key: key, Concurrency: 1,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}, st)
		if err != nil {
			return err
		}
		go u.Run(ctx)
	}
	select {}
}

// TestCrashBetweenStoreAndUpload kills a hub process (SIGKILL) right after
// it stored segments, before any upload, and again while the cloud has
// stored a segment but not yet answered: the next process uploads every
// segment, each once in the cloud, and the one cut off is answered as
// already stored.
func TestCrashBetweenStoreAndUpload(t *testing.T) {
	dir := t.TempDir()
	key, err := envelope.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	cl := newCloud(t, key.Public().(ed25519.PublicKey))
	held := make(chan objKey, 1)
	release := make(chan struct{})
	// The held handler keeps the cloud from closing: release it however
	// the test ends.
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	var once sync.Once
	cl.mu.Lock()
	cl.afterStore = func(k objKey) {
		once.Do(func() {
			held <- k
			<-release
		})
	}
	cl.mu.Unlock()
	child := func(from, to int, cloud string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"=1", crashEnv+"_DIR="+dir, crashEnv+"_SEED="+hex.EncodeToString(key.Seed()),
			crashEnv+"_FROM="+strconv.Itoa(from), crashEnv+"_TO="+strconv.Itoa(to), crashEnv+"_CLOUD="+cloud)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "stored\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q, %v", line, err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Kill()
		cmd.Wait()
	}

	// 1: killed right after storing three segments.
	kill(child(0, 3, ""))
	// 2: stores two more, starts uploading, killed while the cloud holds
	// its first upload unanswered.
	c := child(3, 5, cl.URL())
	var cut objKey
	select {
	case cut = <-held:
	case <-time.After(20 * time.Second):
		kill(c)
		t.Fatal("the child uploaded nothing")
	}
	kill(c)
	releaseOnce()
	if n := cl.stored(); n != 1 {
		t.Fatalf("the cloud holds %d objects before the restart, want the 1 cut off", n)
	}

	// 3: the next hub.
	st, err := segstore.Open(context.Background(), dir, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := &fixture{t: t, dir: dir, store: st, key: key, log: newLogRecorder(t), cloud: cl}
	u := f.start(f.config())
	waitFor(t, "every segment uploaded", 10*time.Second, func() bool { return u.Stats().Pending == 0 })
	segs, err := st.List(context.Background(), segstore.Filter{})
	if err != nil || len(segs) != 5 {
		t.Fatalf("%d segments in the store, %v", len(segs), err)
	}
	cl.checkHolds(t, segs)
	if st := u.Stats(); st.Uploaded != 4 || st.AlreadyThere != 1 {
		t.Errorf("Stats = %+v, want 4 uploaded and the cut-off one already there", st)
	}
	if n := cl.attemptsOf(cut); n != 2 {
		t.Errorf("the cut-off segment was sent %d times, want 2", n)
	}
}
