package cli

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// runCloudWorkspace registers labelling workspaces on the cloud's own
// store (vigil cloud workspace add|list --config FILE), as the operator
// who runs the service, for those without a staff admin's passkey
// session (POST /staff/v1/workspaces). The labelling domain makes the
// same checks as the route, and the genesis head is queued for the
// transparency log, which a running cloud publishes within a second.
func runCloudWorkspace(e env) error {
	return runSubcommand(e, "cloud workspace", "add|list --config FILE [flags]", cloudWorkspaceSubs())
}

// cloudWorkspaceSubs is the table of vigil cloud workspace's subcommands; its help lists them from it.
func cloudWorkspaceSubs() []subcommand {
	return []subcommand{
		{"add", cloudWorkspaceAdd, nil},
		{"list", cloudWorkspaceList, nil},
	}
}

// noRecorder refuses: registering a workspace records nothing in a
// household's history.
type noRecorder struct{}

func (noRecorder) Record(context.Context, store.Access) error {
	return errors.New("labelling: no household history here")
}

// noBlobs refuses: registering a workspace stores no object, and the
// blob store stays the running cloud's alone (a directory store is held
// by one process).
type noBlobs struct{}

var errNoBlobs = errors.New("labelling: no blob store here")

func (noBlobs) Put(context.Context, string, io.Reader, int64) (blob.Info, bool, error) {
	return blob.Info{}, false, errNoBlobs
}
func (noBlobs) Open(context.Context, string) (blob.Object, error) { return nil, errNoBlobs }
func (noBlobs) Stat(context.Context, string) (blob.Info, error)   { return blob.Info{}, errNoBlobs }
func (noBlobs) Delete(context.Context, string) error              { return errNoBlobs }
func (noBlobs) List(context.Context, string) ([]string, error)    { return nil, errNoBlobs }

// openLabelling opens the store the configuration at path names and a
// labelling Service over it whose new heads are queued for the log;
// done closes the store.
func openLabelling(e env, path string) (*labelling.Service, func(), error) {
	st, log, done, err := openCloudStoreFromConfig(e, path)
	if err != nil {
		return nil, nil, err
	}
	hs, ok := st.(interface{ History() history.Store })
	if !ok {
		done()
		return nil, nil, errors.New("the cloud's store keeps no log queue")
	}
	var headErr error
	svc, err := labelling.New(labelling.Config{Store: st, Blobs: noBlobs{}, Access: noRecorder{}, Logger: log,
		Households: func(context.Context, string) (*keydir.State, error) { return nil, errors.New("no households here") },
		OnHead: func(ctx context.Context, ws string, genesis []byte, seq int64, head []byte) {
			tk, err := history.NewTagKey(genesis)
			if err == nil {
				var entry []byte
				if entry, err = tk.ChainHeadEntry(seq, head); err == nil {
					_, err = hs.History().Add(ctx, history.Item{Kind: history.TypeChainHead, Household: ws, Num: seq, Entry: entry})
				}
			}
			headErr = err
		}})
	if err != nil {
		done()
		return nil, nil, err
	}
	return svc, func() {
		if headErr != nil {
			fmt.Fprintf(e.stderr, "warning: the workspace's head is not queued for the transparency log (%v): devices will refuse its chain until its next link\n", headErr)
		}
		done()
	}, nil
}

func cloudWorkspaceAdd(e env, args []string) error {
	fs := newFlags(e, "cloud workspace add", "--config FILE --genesis FILE")
	path := fs.String("config", "", "the cloud's configuration file (its store is where workspaces are kept)")
	gfile := fs.String("genesis", "", "the genesis link 'vigil workspace create -o FILE' wrote on the first lead's device")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required (the cloud's configuration: see docs/CONFIG.md, \"Cloud\")", ErrUsage)
	}
	if *gfile == "" {
		return fmt.Errorf("%w: --genesis FILE is required (written by 'vigil workspace create -o FILE' on the lead's device)", ErrUsage)
	}
	b, err := os.ReadFile(*gfile)
	if err != nil {
		return err
	}
	genesis, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s is not a genesis file (one line of base64, as 'vigil workspace create -o FILE' writes): %v", *gfile, err)
	}
	svc, done, err := openLabelling(e, *path)
	if err != nil {
		return err
	}
	defer done()
	w, err := svc.CreateWorkspace(e.ctx, "operator", genesis)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "workspace %s (%s) registered; genesis %s\n", w.ID, w.Name, hex.EncodeToString(w.GenesisHash))
	fmt.Fprintln(e.stdout, "compare the genesis with the one the lead's 'vigil workspace create' printed")
	return nil
}

func cloudWorkspaceList(e env, args []string) error {
	fs := newFlags(e, "cloud workspace list", "--config FILE")
	path := fs.String("config", "", "the cloud's configuration file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	svc, done, err := openLabelling(e, *path)
	if err != nil {
		return err
	}
	defer done()
	ws, err := svc.Workspaces(e.ctx)
	if err != nil {
		return err
	}
	for _, w := range ws {
		fmt.Fprintf(e.stdout, "%s\t%s\tgenesis %s\tcreated %s by %s\n", w.ID, w.Name, hex.EncodeToString(w.GenesisHash), w.Created.UTC().Format(time.RFC3339), w.CreatedBy)
	}
	return nil
}
