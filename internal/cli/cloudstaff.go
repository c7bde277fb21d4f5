package cli

import (
	"fmt"
	"strings"
	"time"

	"vigil/internal/cloud/staff"
)

// runCloudStaff manages the service's staff identities on the cloud's own
// store (vigil cloud staff add|list|disable --config FILE): the bootstrap
// of the staff side, run by whoever runs the service. Staff are never
// accounts (internal/cloud/staff).
func runCloudStaff(e env) error {
	return runSubcommand(e, "cloud staff", "add|list|disable --config FILE [flags]", cloudStaffSubs())
}

// cloudStaffSubs is the table of vigil cloud staff's subcommands; its help lists them from it.
func cloudStaffSubs() []subcommand {
	return []subcommand{
		{"add", cloudStaffAdd, nil},
		{"list", cloudStaffList, nil},
		{"disable", cloudStaffDisable, nil},
	}
}

// openStaff opens the store the configuration at path names and a staff
// Service over it; done closes the store.
func openStaff(e env, path string) (*staff.Service, func(), error) {
	st, log, done, err := openCloudStoreFromConfig(e, path)
	if err != nil {
		return nil, nil, err
	}
	svc, err := staff.New(staff.Config{Store: st, Logger: log})
	if err != nil {
		done()
		return nil, nil, err
	}
	return svc, done, nil
}

func cloudStaffAdd(e env, args []string) error {
	fs := newFlags(e, "cloud staff add", "--config FILE --name NAME --role "+strings.Join(staff.Roles, "|"))
	path := fs.String("config", "", "the cloud's configuration file (its store is where staff are kept)")
	name := fs.String("name", "", "the staff member's name, unique among staff")
	role := fs.String("role", "", "the staff member's role: "+strings.Join(staff.Roles, ", ")+" (no role reaches household content)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *name == "" || *role == "" {
		return fmt.Errorf("%w: --name and --role are required", ErrUsage)
	}
	svc, done, err := openStaff(e, *path)
	if err != nil {
		return err
	}
	defer done()
	st, en, err := svc.Add(e.ctx, *name, *role)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staff member added: %s (%s, %s)\n", st.ID, st.Name, st.Role)
	fmt.Fprintf(e.stdout, "enrolment secret, for registering their passkey (shown once; usable once, until %s):\n%s\n",
		en.Expires.UTC().Format(time.RFC3339), en.Secret)
	return nil
}

func cloudStaffList(e env, args []string) error {
	fs := newFlags(e, "cloud staff list", "--config FILE")
	path := fs.String("config", "", "the cloud's configuration file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	svc, done, err := openStaff(e, *path)
	if err != nil {
		return err
	}
	defer done()
	list, err := svc.List(e.ctx)
	if err != nil {
		return err
	}
	for _, st := range list {
		state := "active"
		if !st.Disabled.IsZero() {
			state = "disabled " + st.Disabled.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", st.ID, st.Role, st.Name, state)
	}
	return nil
}

func cloudStaffDisable(e env, args []string) error {
	fs := newFlags(e, "cloud staff disable", "--config FILE STAFF_ID")
	path := fs.String("config", "", "the cloud's configuration file")
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: the staff ID to disable (vigil cloud staff list shows them)", ErrUsage)
	}
	svc, done, err := openStaff(e, *path)
	if err != nil {
		return err
	}
	defer done()
	if err := svc.Disable(e.ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "staff member %s disabled; their sessions are ended\n", fs.Arg(0))
	return nil
}
