package cli

import (
	"fmt"
	"time"

	"vigil/internal/consent"
)

// vigil donation give|list|revoke: a household member's donations to
// labelling workspaces, from a member device (give: donationgive.go). A
// revocation is signed by this device
// (the donor device or an admin device of the household's chain): the
// cloud deletes the clip and its annotations and marks every dataset
// version and evaluation that held it.

func runDonation(e env) error {
	return runSubcommand(e, "donation", `give --camera NAME --from T --to T --workspace ID [--purpose P] [--keep-audio] [--preview FILE] [--yes] [--household ID]
       vigil donation list [--household ID]
       vigil donation revoke ID [--household ID]

Each takes --profile DIR: this device's profile (keys, session, pinned
households).`, donationSubs())
}

// donationSubs is the table of vigil donation's subcommands; its help lists them from it.
func donationSubs() []subcommand {
	return []subcommand{{"give", donationGive, nil}, {"list", donationList, nil}, {"revoke", donationRevoke, nil}}
}

func donationList(e env, args []string) error {
	fs := newFlags(e, "donation list", "[--household ID] [--profile DIR]")
	hhID := fs.String("household", "", "household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	p := profile{*dir}
	c, _, err := p.client()
	if err != nil {
		return err
	}
	h, err := p.household(*hhID)
	if err != nil {
		return err
	}
	ds, err := c.Donations(e.ctx, h.HouseholdID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		fmt.Fprintf(e.stdout, "%s\t%s\tworkspace %s\t%s\tuntil %s\n", d.ID, d.State, d.Workspace, d.Purpose, d.Expires.UTC().Format(time.RFC3339))
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stderr, "no donations")
	}
	return nil
}

func donationRevoke(e env, args []string) error {
	fs := newFlags(e, "donation revoke", "ID [--household ID] [--profile DIR]")
	hhID := fs.String("household", "", "household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	id := fs.Arg(0)
	if id == "" {
		return fmt.Errorf("%w: the donation ID is required (as 'vigil donation list' shows it)", ErrUsage)
	}
	if !consent.ValidID(id) {
		return fmt.Errorf("%w: %q is not a donation ID (26 letters a-z and digits 2-7)", ErrUsage, id)
	}
	p := profile{*dir}
	c, h, k, err := p.member(*hhID)
	if err != nil {
		return err
	}
	s, err := consent.SignRevocation(k, consent.Revocation{V: 1, Consent: id, Household: h.HouseholdID, Device: k.ID(),
		Time: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return err
	}
	d, err := c.RevokeDonation(e.ctx, h.HouseholdID, id, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "donation %s %s: its clip and annotations are deleted from workspace %s; dataset versions that held it are marked\n", d.ID, d.State, d.Workspace)
	return nil
}
