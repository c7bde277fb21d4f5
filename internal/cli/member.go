package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/pairing"
)

// A member device's profile directory holds its device keys (device.key,
// 0600), its API token (session.json, 0600) and the genesis hash it pinned for
// each household (households/ID.json). Default: $VIGIL_HOME, else
// ~/.config/vigil.

type profile struct{ dir string }

func profileFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("VIGIL_HOME")
	if def == "" {
		if home, err := os.UserHomeDir(); err == nil {
			def = filepath.Join(home, ".config", "vigil")
		}
	}
	return fs.String("profile", def, "this device's profile directory (keys, session, pinned households); env VIGIL_HOME")
}

type session struct {
	Cloud     string `json:"cloud"`
	Email     string `json:"email"`
	AccountID string `json:"account_id"`
	Token     string `json:"token"`
}

type pinnedHousehold struct {
	HouseholdID string `json:"household_id"`
	Name        string `json:"name"`
	GenesisHash string `json:"genesis_hash"`
	Cloud       string `json:"cloud"`
	// Known is the last link this device verified: the cloud may not serve
	// an older chain afterwards.
	Known *member.Known `json:"known,omitempty"`
	// Audit is what the last 'vigil audit' verified.
	Audit *history.AuditState `json:"audit,omitempty"`
}

func (p profile) deviceKeys() (*keydir.DeviceKeys, bool, error) {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, false, err
	}
	return keydir.LoadOrCreateDeviceKeys(filepath.Join(p.dir, "device.key"))
}

func (p profile) session() (*session, error) {
	var s session
	err := p.loadJSON("session.json", &s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("not signed in (hint: 'vigil login --cloud URL --email ADDRESS --totp CODE')")
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (p profile) client() (*client.Client, *session, error) {
	s, err := p.session()
	if err != nil {
		return nil, nil, err
	}
	c := client.New(s.Cloud)
	c.Token = s.Token
	return c, s, nil
}

// loadJSON reads the profile's file name into v (an error wrapping
// fs.ErrNotExist when there is none).
func (p profile) loadJSON(name string, v any) error {
	path := filepath.Join(p.dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// saveHousehold keeps what this device pinned and verified of h.
func (p profile) saveHousehold(h *pinnedHousehold) error {
	return p.saveJSON(filepath.Join("households", h.HouseholdID+".json"), h)
}

func (p profile) saveJSON(name string, v any) error {
	if err := os.MkdirAll(filepath.Dir(filepath.Join(p.dir, name)), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(p.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// member opens what a member's command needs: the signed-in client,
// household id (the only one this device knows when empty) and this
// device's keys.
func (p profile) member(id string) (*client.Client, *pinnedHousehold, *keydir.DeviceKeys, error) {
	c, _, err := p.client()
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := p.household(id)
	if err != nil {
		return nil, nil, nil, err
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return nil, nil, nil, err
	}
	return c, h, k, nil
}

func (p profile) household(id string) (*pinnedHousehold, error) {
	if id == "" {
		entries, _ := os.ReadDir(filepath.Join(p.dir, "households"))
		var ids []string
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
				ids = append(ids, n)
			}
		}
		switch len(ids) {
		case 0:
			return nil, errors.New("this device knows no household (hint: 'vigil household create --name NAME')")
		case 1:
			id = ids[0]
		default:
			return nil, fmt.Errorf("%w: this device knows several households (%s): pick one with --household ID", ErrUsage, strings.Join(ids, ", "))
		}
	}
	if strings.ContainsAny(id, `/\.`) {
		return nil, fmt.Errorf("%w: %q is not a household ID", ErrUsage, id)
	}
	var h pinnedHousehold
	err := p.loadJSON(filepath.Join("households", id+".json"), &h)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("this device has not pinned household %s (hint: 'vigil household list')", id)
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// verifiedChain fetches a household's chain and verifies it from the genesis
// this device pinned and past the last link it saw (the cloud can neither add
// a device unnoticed nor roll the household back, G4); it then remembers the
// new head.
func (p profile) verifiedChain(ctx context.Context, c *client.Client, h *pinnedHousehold) (*keydir.State, error) {
	g, err := hex.DecodeString(h.GenesisHash)
	if err != nil {
		return nil, fmt.Errorf("pinned genesis of %s is not hex", h.HouseholdID)
	}
	lc, saveLog, err := p.logClient(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	st, err := member.VerifiedChainSince(ctx, c, h.HouseholdID, g, h.Known, member.WithLog(lc))
	if err != nil {
		return nil, err
	}
	if err := saveLog(); err != nil {
		return nil, err
	}
	if h.Known == nil || st.Seq > h.Known.Seq {
		h.Known = &member.Known{Seq: st.Seq, Head: st.Head}
		if err := p.saveHousehold(h); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readPassword takes the password from --password-file, $VIGIL_PASSWORD or
// one line of standard input.
func readPassword(e env, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if pw := os.Getenv("VIGIL_PASSWORD"); pw != "" {
		return pw, nil
	}
	fmt.Fprint(e.stderr, "password: ")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password given (use --password-file FILE, $VIGIL_PASSWORD or type it)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runSignup(e env) error {
	fs := newFlags(e, "signup", "--cloud URL --email ADDRESS [--password-file FILE]")
	cloudURL := fs.String("cloud", "", "cloud service URL")
	email := fs.String("email", "", "e-mail address (an identifier, never enough to sign in)")
	pwFile := fs.String("password-file", "", "read the password from this file")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *cloudURL == "" || *email == "" {
		return fmt.Errorf("%w: --cloud and --email are required", ErrUsage)
	}
	pw, err := readPassword(e, *pwFile)
	if err != nil {
		return err
	}
	res, err := client.New(*cloudURL).SignUp(e.ctx, *email, pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "account %s created.\nsecond factor (add to an authenticator app; every sign-in needs its code):\n  secret: %s\n  uri:    %s\n",
		res.AccountID, res.TOTPSecret, res.TOTPURI)
	return nil
}

func runLogin(e env) error {
	fs := newFlags(e, "login", "--cloud URL --email ADDRESS --totp CODE [--password-file FILE] [--profile DIR]")
	cloudURL := fs.String("cloud", "", "cloud service URL")
	email := fs.String("email", "", "e-mail address")
	totp := fs.String("totp", "", "6-digit code from the authenticator app")
	pwFile := fs.String("password-file", "", "read the password from this file")
	dir := profileFlag(fs)
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *cloudURL == "" || *email == "" || *totp == "" {
		return fmt.Errorf("%w: --cloud, --email and --totp are required (the password alone never signs in)", ErrUsage)
	}
	pw, err := readPassword(e, *pwFile)
	if err != nil {
		return err
	}
	c := client.New(*cloudURL)
	tok, err := c.SignIn(e.ctx, *email, pw, *totp)
	if err != nil {
		return err
	}
	p := profile{*dir}
	if err := p.saveJSON("session.json", session{Cloud: c.BaseURL, Email: *email, Token: tok}); err != nil {
		return err
	}
	k, created, err := p.deviceKeys()
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stderr, "made this device's keys (%s) in %s\n", k.ID(), p.dir)
	}
	fmt.Fprintf(e.stdout, "signed in to %s as %s\n", c.BaseURL, *email)
	return nil
}

const householdSynopsis = `create --name NAME [--device-name NAME]
       vigil household list
       vigil household pair-hub CODE [--household ID]
       vigil household add-device DEVICE --name NAME [--role member|admin] [--household ID]
       vigil household join ID --genesis HEX
       vigil household invite EMAIL [--role member|admin] [--household ID]

Each takes --profile DIR: this device's profile (keys, session, pinned
households).`

func runHousehold(e env) error {
	return runSubcommand(e, "household", householdSynopsis, householdSubs())
}

// householdSubs is the table of vigil household's subcommands; its help lists them from it.
func householdSubs() []subcommand {
	return []subcommand{
		{"create", householdCreate, nil}, {"list", householdList, nil}, {"pair-hub", householdPairHub, nil},
		{"add-device", householdAddDevice, nil}, {"join", householdJoin, nil}, {"invite", householdInvite, nil}}
}

func householdCreate(e env, args []string) error {
	fs := newFlags(e, "household create", "--name NAME [--device-name NAME] [--profile DIR]")
	name := fs.String("name", "", "household name, e.g. \"Home\"")
	devName := fs.String("device-name", "", "this device's name in the household (default: the host name)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", ErrUsage)
	}
	if *devName == "" {
		*devName, _ = os.Hostname()
	}
	p := profile{*dir}
	c, _, err := p.client()
	if err != nil {
		return err
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return err
	}
	genesis, phrase, st, err := keydir.NewHousehold(*name, k, *devName, time.Now())
	if err != nil {
		return err
	}
	if _, err := c.CreateHousehold(e.ctx, genesis); err != nil {
		return err
	}
	pin := pinnedHousehold{HouseholdID: st.HouseholdID, Name: *name, GenesisHash: hex.EncodeToString(st.GenesisHash), Cloud: c.BaseURL}
	if err := p.saveHousehold(&pin); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "household %s (%s) created; this device is its admin.\n\n", st.HouseholdID, *name)
	fmt.Fprintf(e.stdout, "RECOVERY PHRASE — write it down now; it is shown only this once and is the only way\n"+
		"to open your footage if every enrolled device is lost:\n\n    %s\n\n", phrase)
	return nil
}

func householdList(e env, args []string) error {
	fs := newFlags(e, "household list", "[--profile DIR]")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, _, err := profile{*dir}.client()
	if err != nil {
		return err
	}
	hs, err := c.Households(e.ctx)
	if err != nil {
		return err
	}
	for _, h := range hs {
		pinned := "not pinned on this device"
		if ph, err := (profile{*dir}).household(h.ID); err == nil && ph.GenesisHash == h.GenesisHash {
			pinned = "pinned"
		} else if err == nil {
			pinned = "GENESIS MISMATCH: the cloud serves another chain than this device pinned"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\tgenesis %s\t%s\n", h.ID, h.Name, h.GenesisHash, pinned)
	}
	return nil
}

func householdPairHub(e env, args []string) error {
	fs := newFlags(e, "household pair-hub", "CODE [--household ID] [--profile DIR]")
	hhID := fs.String("household", "", "household to add the hub to (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	code := fs.Arg(0)
	if code == "" {
		return fmt.Errorf("%w: the pairing CODE shown by 'vigil hub pair' is required", ErrUsage)
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		return err
	}
	p := profile{*dir}
	c, h, k, err := p.member(*hhID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, pairing.CodeLifetime)
	defer cancel()
	g, err := hex.DecodeString(h.GenesisHash)
	if err != nil {
		return fmt.Errorf("pinned genesis of %s is not hex", h.HouseholdID)
	}
	if _, err := p.verifiedChain(ctx, c, h); err != nil {
		return err
	}
	hub, err := member.PairHub(ctx, c, h.HouseholdID, g, k, pc, 0)
	if err != nil {
		return err
	}
	if _, err := p.verifiedChain(ctx, c, h); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "hub %q (%s) added to household %s; it will seal to the household's key and upload\n", hub.Name, keydir.DeviceID(hub.SignPub), h.HouseholdID)
	return nil
}

// runDevice shows this device's public identity, for an admin to add it.
func runDevice(e env) error {
	return runSubcommand(e, "device", "id\n\nShows this device's public identity for an admin to add.", deviceSubs())
}

// deviceSubs is the table of vigil device's subcommands.
func deviceSubs() []subcommand {
	return []subcommand{{"id", deviceID, nil}}
}

func deviceID(e env, args []string) error {
	fs := newFlags(e, "device id", "[--profile DIR]")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	k, created, err := profile{*dir}.deviceKeys()
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stderr, "made this device's keys in %s\n", *dir)
	}
	fmt.Fprintln(e.stdout, keydir.EncodeDevice(k))
	return nil
}

// householdAddDevice signs a chain link that adds another device (shown by
// 'vigil device id' on it) to the household, wrapping every epoch key to it.
func householdAddDevice(e env, args []string) error {
	fs := newFlags(e, "household add-device", "DEVICE --name NAME [--role member|admin] [--household ID] [--profile DIR]")
	name := fs.String("name", "", "the device's name in the household, e.g. \"Bob's phone\"")
	role := fs.String("role", keydir.RoleMember, "member or admin")
	hhID := fs.String("household", "", "household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	dev := fs.Arg(0)
	if dev == "" || *name == "" {
		return fmt.Errorf("%w: the DEVICE identity (from 'vigil device id' on it) and --name are required", ErrUsage)
	}
	if *role != keydir.RoleMember && *role != keydir.RoleAdmin {
		return fmt.Errorf("%w: --role is member or admin", ErrUsage)
	}
	dk, err := keydir.ParseDevice(dev, *role, *name)
	if err != nil {
		return err
	}
	p := profile{*dir}
	c, h, k, err := p.member(*hhID)
	if err != nil {
		return err
	}
	st, err := p.verifiedChain(e.ctx, c, h)
	if err != nil {
		return err
	}
	link, err := st.AddDevice(k, dk, time.Now())
	if err != nil {
		return err
	}
	if err := c.AppendLink(e.ctx, h.HouseholdID, link); err != nil {
		return err
	}
	if _, err := p.verifiedChain(e.ctx, c, h); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "device %s (%s) added to household %s as %s; it can open all of the household's footage\n", dk.ID, *name, h.HouseholdID, *role)
	return nil
}

// householdJoin pins a household on this device: its ID and the genesis hash
// an admin read out from 'vigil household list' on an enrolled device. The
// chain is verified from that genesis; this device must already be in it.
func householdJoin(e env, args []string) error {
	fs := newFlags(e, "household join", "ID --genesis HEX [--profile DIR]")
	genesis := fs.String("genesis", "", "the household's genesis hash, as 'vigil household list' shows it on an admin's device")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	id := fs.Arg(0)
	if id == "" || *genesis == "" {
		return fmt.Errorf("%w: the household ID and --genesis are required", ErrUsage)
	}
	if _, err := hex.DecodeString(*genesis); err != nil {
		return fmt.Errorf("%w: --genesis is a hex hash", ErrUsage)
	}
	p := profile{*dir}
	c, _, err := p.client()
	if err != nil {
		return err
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return err
	}
	g, _ := hex.DecodeString(*genesis)
	st, err := member.VerifiedChain(e.ctx, c, id, g)
	if err != nil {
		return err
	}
	h := &pinnedHousehold{HouseholdID: id, GenesisHash: hex.EncodeToString(g), Cloud: c.BaseURL,
		Known: &member.Known{Seq: st.Seq, Head: st.Head}}
	if _, err := st.EpochIdentities(k); err != nil {
		return fmt.Errorf("this device is not in household %s yet (hint: an admin runs 'vigil household add-device %s --name NAME'): %w", id, keydir.EncodeDevice(k), err)
	}
	h.Name = st.Name
	if err := p.saveHousehold(h); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "joined household %s (%s); this device can open its footage\n", id, st.Name)
	return nil
}

// householdInvite lets another person's account read the household's
// (sealed) objects; their devices still need 'household add-device'. This
// device signs the change (a member.add household action): it must be an
// admin device of the household's chain.
func householdInvite(e env, args []string) error {
	fs := newFlags(e, "household invite", "EMAIL [--role member|admin] [--household ID] [--profile DIR]")
	role := fs.String("role", "member", "member or admin (admins can invite and change the chain)")
	hhID := fs.String("household", "", "household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	email := fs.Arg(0)
	if email == "" {
		return fmt.Errorf("%w: the EMAIL of the person's account is required", ErrUsage)
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
	if *role != keydir.RoleMember && *role != keydir.RoleAdmin {
		return fmt.Errorf("%w: --role is member or admin", ErrUsage)
	}
	email = strings.ToLower(strings.TrimSpace(email))
	k, st, err := p.adminDevice(e, c, h)
	if err != nil {
		return err
	}
	a, err := history.NewAction(h.HouseholdID, history.MemberAddParams{Email: email, Role: *role}, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	signed, err := history.SignAction(k, a)
	if err != nil {
		return err
	}
	if err := c.AddMember(e.ctx, st.HouseholdID, signed); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s can now see household %s's recordings list; to open footage their device needs 'vigil household add-device'\n", email, h.HouseholdID)
	return nil
}

// adminDevice returns this device's keys and the household's verified
// chain, if this device is an admin device of it: only those sign changes
// to the household (docs/FORMAT.md, "Signed household actions").
func (p profile) adminDevice(e env, c *client.Client, h *pinnedHousehold) (*keydir.DeviceKeys, *keydir.State, error) {
	k, _, err := p.deviceKeys()
	if err != nil {
		return nil, nil, err
	}
	st, err := p.verifiedChain(e.ctx, c, h)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := st.Devices[k.ID()]; !ok || d.Role != keydir.RoleAdmin {
		return nil, nil, fmt.Errorf("only an admin device of household %s can sign this change, and this device (%s) is not one "+
			"(hint: run it on an admin device, or have an admin make this device one)", h.HouseholdID, k.ID())
	}
	return k, st, nil
}
