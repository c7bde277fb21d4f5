package onvif

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// useMedia2 reports whether profiles and URIs come from the Media2
// service, and its URL: when the device has it and either the client
// prefers it or the device has no Media (ver10) service.
func (c *Client) useMedia2(ctx context.Context) (string, bool, error) {
	if err := c.connect(ctx); err != nil {
		return "", false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.media2 != "" && (c.o.PreferMedia2 || c.media == "") {
		return c.media2, true, nil
	}
	return "", false, nil
}

// profiles2XML is a Media2 GetProfilesResponse: the configurations of a
// profile are grouped under Configurations, GovLength is an attribute and
// the frame rate a float.
type profiles2XML struct {
	Profiles []struct {
		Token          string `xml:"token,attr"`
		Name           string `xml:"Name"`
		Configurations struct {
			Video *struct {
				Token      string `xml:"token,attr"`
				GovLength  int    `xml:"GovLength,attr"`
				Name       string `xml:"Name"`
				Encoding   string `xml:"Encoding"`
				Resolution struct {
					Width  int `xml:"Width"`
					Height int `xml:"Height"`
				} `xml:"Resolution"`
				RateControl struct {
					FrameRateLimit float64 `xml:"FrameRateLimit"`
					BitrateLimit   int     `xml:"BitrateLimit"`
				} `xml:"RateControl"`
			} `xml:"VideoEncoder"`
			Audio *struct {
				Token      string `xml:"token,attr"`
				Name       string `xml:"Name"`
				Encoding   string `xml:"Encoding"`
				Bitrate    int    `xml:"Bitrate"`
				SampleRate int    `xml:"SampleRate"`
			} `xml:"AudioEncoder"`
			AudioOutput *struct{} `xml:"AudioOutput"`
		} `xml:"Configurations"`
	} `xml:"Profiles"`
}

// parseProfiles2 decodes a Media2 GetProfilesResponse envelope.
func parseProfiles2(data []byte, status int) ([]Profile, error) {
	var r profiles2XML
	if err := decodeResponse(data, "GetProfiles", nsTR2, "GetProfilesResponse", status, &r); err != nil {
		return nil, err
	}
	return r.profiles()
}

func (r *profiles2XML) profiles() ([]Profile, error) {
	out := make([]Profile, 0, len(r.Profiles))
	for _, p := range r.Profiles {
		cf := p.Configurations
		q := Profile{Token: strings.TrimSpace(p.Token), Name: strings.TrimSpace(p.Name), AudioOutput: cf.AudioOutput != nil}
		if q.Token == "" {
			return nil, errors.New("onvif: GetProfiles: a profile has no token")
		}
		if v := cf.Video; v != nil {
			q.Video = &VideoEncoder{
				Token: strings.TrimSpace(v.Token), Name: strings.TrimSpace(v.Name), Encoding: strings.TrimSpace(v.Encoding),
				Width: v.Resolution.Width, Height: v.Resolution.Height, FrameRate: frameRate(v.RateControl.FrameRateLimit),
				Bitrate: v.RateControl.BitrateLimit, GovLength: v.GovLength,
			}
		}
		if a := cf.Audio; a != nil {
			q.Audio = &AudioEncoder{Token: strings.TrimSpace(a.Token), Name: strings.TrimSpace(a.Name), Encoding: strings.TrimSpace(a.Encoding), Bitrate: a.Bitrate, SampleRate: a.SampleRate}
		}
		out = append(out, q)
	}
	return out, nil
}

// frameRate rounds a frame rate limit to whole frames per second; 0 when
// it is not between 0 and 1000.
func frameRate(f float64) int {
	if !(f >= 0 && f <= 1000) {
		return 0
	}
	return int(math.Round(f))
}

func (c *Client) profiles2(ctx context.Context, u string) ([]Profile, error) {
	var r profiles2XML
	if err := c.call(ctx, u, nsTR2, "GetProfiles", nsTR2+"/GetProfiles", true, "", `<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>`, 0, &r); err != nil {
		return nil, err
	}
	return r.profiles()
}

// uri2 is Media2's GetStreamUri (RTSP) or GetSnapshotUri.
func (c *Client) uri2(ctx context.Context, u, op, profile string) (string, error) {
	body := `<tr2:` + op + `>`
	if op == "GetStreamUri" {
		body += `<tr2:Protocol>RTSP</tr2:Protocol>`
	}
	body += `<tr2:ProfileToken>` + esc(profile) + `</tr2:ProfileToken></tr2:` + op + `>`
	var r struct {
		URI string `xml:"Uri"`
	}
	if err := c.call(ctx, u, nsTR2, op, nsTR2+"/"+op, true, "", body, 0, &r); err != nil {
		return "", err
	}
	s, err := c.onDevice(r.URI, op == "GetStreamUri")
	if err != nil {
		return "", fmt.Errorf("onvif: %s: the device gave no usable URI: %w", op, err)
	}
	return s, nil
}
