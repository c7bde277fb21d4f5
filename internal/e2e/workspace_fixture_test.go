package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
)

// registerWorkspace makes a labelling workspace as its first lead would
// (a new device signs the chain's genesis) and registers it through the
// staff route as a staff admin does. It returns the lead's device keys and
// the workspace's verified chain state (its ID is HouseholdID).
func registerWorkspace(t *testing.T, ctx context.Context, c *cloudEnv, name string) (*keydir.DeviceKeys, *keydir.State) {
	t.Helper()
	lead, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _, ws, err := keydir.NewHousehold(name, lead, "lead laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := staff.New(staff.Config{Store: c.st})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := sv.Add(ctx, "Olga Admin", store.StaffAdmin)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sv.NewSession(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"genesis": genesis})
	req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/staff/v1/workspaces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(staff.CSRFHeader, sess.CSRF)
	req.AddCookie(&http.Cookie{Name: "vigil_staff", Value: sess.Secret})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering the workspace: %s", resp.Status)
	}
	return lead, ws
}
