package pairing_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"vigil/internal/envelope"
	"vigil/internal/pairing"
)

// Example pairs a hub with a household through a relay that sees only the
// rendezvous ID and opaque messages.
func Example() {
	relay := map[string][][]byte{} // the cloud: rendezvous ID -> messages

	// On the hub: vigil hub pair --cloud URL
	hubPub, _, _ := ed25519.GenerateKey(rand.Reader)
	code, err := pairing.NewCode()
	if err != nil {
		panic(err)
	}
	hub, msg1, err := pairing.NewHub(code, hubPub, "Garage")
	if err != nil {
		panic(err)
	}
	relay[code.RendezvousID()] = [][]byte{msg1}
	typed := code.String() // shown on the hub's screen, typed by a person

	// On a member's device: vigil household pair-hub CODE
	epoch, _ := envelope.GenerateX25519Identity()
	genesis := sha256.Sum256([]byte("genesis link"))
	member, err := pairing.NewMember(mustParse(typed), pairing.HouseholdOffer{
		HouseholdID:    "hh-1234",
		GenesisHash:    genesis[:],
		EpochRecipient: epoch.Recipient().String(),
	})
	if err != nil {
		panic(err)
	}
	id := mustParse(typed).RendezvousID()
	hello, msg2, err := member.Receive(relay[id][0])
	if err != nil {
		panic(err)
	}
	relay[id] = append(relay[id], msg2)

	// On the hub.
	offer, msg3, err := hub.Receive(relay[code.RendezvousID()][1])
	if err != nil {
		panic(err)
	}
	relay[code.RendezvousID()] = append(relay[code.RendezvousID()], msg3)
	// The hub persists nothing yet: it waits for its own key to appear in
	// the household's verified chain, whose genesis hashes to offer.GenesisHash.

	// On the member's device.
	if err := member.Confirm(relay[id][2]); err != nil {
		panic(err)
	}
	// Only now does the member add hello.SignPub to the household chain.

	fmt.Println("member adds hub:", hello.Name, hello.SignPub.Equal(hubPub))
	fmt.Println("hub joins:", offer.HouseholdID, offer.EpochRecipient == epoch.Recipient().String())
	// Output:
	// member adds hub: Garage true
	// hub joins: hh-1234 true
}

func mustParse(s string) pairing.Code {
	c, err := pairing.ParseCode(s)
	if err != nil {
		panic(err)
	}
	return c
}
