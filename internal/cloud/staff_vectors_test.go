package cloud_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
)

// TestStaffRecordVectors: the objects of the lockbox's records are the
// exact text of internal/history/testdata/actions.json's staff_records,
// which the web app's history page reads back (internal/e2e
// TestBrowserCrypto). A change to how a request is named fails here.
func TestStaffRecordVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "history", "testdata", "actions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		StaffRecords []struct {
			Name, Action, Object string
			ActorKind            string `json:"actor_kind"`
			SupportCode          string `json:"support_code"`
			Scope                string
			Request              *struct {
				ID, Staff, Reason string
				Scopes            []string
				Seconds           int64
			}
		} `json:"staff_records"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.StaffRecords) < 7 {
		t.Fatalf("only %d staff record vectors", len(v.StaffRecords))
	}
	for _, c := range v.StaffRecords {
		var got string
		switch c.Action {
		case "staff.lookup":
			// staffLookUp: "support code " and the code as people read it.
			code, err := staff.ParseSupportCode(c.SupportCode)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			got = "support code " + staff.FormatSupportCode(code)
		default:
			if c.Request == nil {
				t.Fatalf("%s (%s): no request (a staff record that names something else needs a case of its own here)", c.Name, c.Action)
			}
			obj := cloud.RequestObject(store.StaffRequest{ID: c.Request.ID, StaffID: c.Request.Staff, Scopes: c.Request.Scopes,
				Reason: c.Request.Reason, Duration: time.Duration(c.Request.Seconds) * time.Second})
			got = obj
			if c.Action == "staff.read" {
				got = c.Scope + " under " + obj // staffHealth
			}
		}
		if got != c.Object {
			t.Errorf("%s (%s): object\n%s\nwant\n%s", c.Name, c.Action, got, c.Object)
		}
	}
}
