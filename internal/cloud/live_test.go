package cloud_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/cloud"
	"vigil/internal/devauth"
)

// A viewer's offer reaches the hub with the fields of the format only:
// ICE servers a viewer adds (a relay of its choosing) and unknown fields
// are dropped, and the only ICE servers the hub gets are the cloud's own.
func TestLiveOfferFieldsFromViewer(t *testing.T) {
	for _, withTURN := range []bool{false, true} {
		t.Run(fmt.Sprintf("turn=%v", withTURN), func(t *testing.T) {
			var turnSrv *cloud.TURN
			if withTURN {
				var err error
				if turnSrv, err = cloud.StartTURN(cloud.TURNConfig{Listen: "127.0.0.1:0"}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { turnSrv.Close() })
			}
			e := newEnvWith(t, func(o *cloud.Options) { o.TURN = turnSrv })
			alice := e.signUp("alice@example.com")
			st := e.household(alice, "Home")
			hubc, _ := e.addHub(alice, st)

			wsBase := "ws" + strings.TrimPrefix(e.url, "http")
			req, err := http.NewRequest("GET", e.url+"/v1/hub/live", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := devauth.Sign(req, nil, hubc.DeviceID, hubc.DeviceKey, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			hubWS, resp, err := websocket.DefaultDialer.Dial(wsBase+"/v1/hub/live", req.Header)
			if err != nil {
				t.Fatalf("hub dial: %v %v", err, resp)
			}
			defer hubWS.Close()
			if err := hubWS.WriteJSON(map[string]any{"type": "hello", "cameras": []string{"front"}}); err != nil {
				t.Fatal(err)
			}

			viewerWS, resp, err := websocket.DefaultDialer.Dial(wsBase+"/v1/households/"+st.HouseholdID+"/live",
				http.Header{"Authorization": {"Bearer " + alice.c.Token}})
			if err != nil {
				t.Fatalf("viewer dial: %v %v", err, resp)
			}
			defer viewerWS.Close()

			// The hub's hello is in once the household lists its camera.
			for i := 0; ; i++ {
				var ice struct{ Cameras []string }
				if getJSON(t, alice, "/v1/households/"+st.HouseholdID+"/live/ice", &ice) == 200 && slices.Contains(ice.Cameras, "front") {
					break
				}
				if i == 100 {
					t.Fatal("the hub's camera was never listed")
				}
				time.Sleep(20 * time.Millisecond)
			}
			forged := []map[string]any{{"urls": []string{"turn:relay.evil.example:3478?transport=udp"}, "username": "u", "credential": "c"}}
			offer := map[string]any{"type": "offer", "session": "session-0123456789", "camera": "front",
				"device": "viewer-device", "ts": 1_800_000_000_000, "fingerprint": "sha-256 AA", "sig": "c2ln", "sdp": "v=0\r\n",
				"ice_servers": forged, "extra": "not in the format"}
			if err := viewerWS.WriteJSON(offer); err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			hubWS.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if err := hubWS.ReadJSON(&got); err != nil {
					t.Fatalf("the offer did not reach the hub: %v", err)
				}
				// A chain notice (the hub's link reached the log) may come first.
				if string(got["type"]) != `"chain"` {
					break
				}
			}

			var typ, cam string
			json.Unmarshal(got["type"], &typ)
			json.Unmarshal(got["camera"], &cam)
			if typ != "offer" || cam != "front" || string(got["sdp"]) != `"v=0\r\n"` || string(got["ts"]) != "1800000000000" {
				t.Errorf("the hub got %v, not the viewer's offer", got)
			}
			if _, ok := got["extra"]; ok {
				t.Error("a field outside the format reached the hub")
			}
			raw, ok := got["ice_servers"]
			if strings.Contains(string(raw), "evil") {
				t.Fatalf("the viewer's ICE servers reached the hub: %s", raw)
			}
			if !withTURN {
				if ok {
					t.Errorf("ICE servers %s reached the hub of a cloud without a relay", raw)
				}
				return
			}
			var servers []cloud.ICEServer
			if err := json.Unmarshal(raw, &servers); err != nil || len(servers) != 1 {
				t.Fatalf("ICE servers %s: %v", raw, err)
			}
			want, _ := turnSrv.Credentials("x", time.Minute)
			if !slices.Equal(servers[0].URLs, want.URLs) || servers[0].Credential == "" {
				t.Errorf("ICE servers %+v, want the cloud's relay %v", servers[0], want.URLs)
			}
		})
	}
}
