package onvif

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxEvents bounds the messages taken from one PullMessages reply.
const maxEvents = 1024

// maxRefParams bounds the WS-Addressing reference parameters of a
// subscription echoed back in each request's header.
const maxRefParams = 8

// Subscription is a PullPoint subscription on a device's event service.
// It is used by one goroutine at a time (Pull, Renew and Unsubscribe
// update Termination).
type Subscription struct {
	c *Client
	// Address is the subscription's endpoint (its reference's Address).
	Address string
	// Termination is when the device will end the subscription unless
	// renewed, as the device last stated it (its clock).
	Termination time.Time
	refParams   string // reference parameters, re-encoded, echoed in headers
}

type endpointRefXML struct {
	Address   string `xml:"Address"`
	RefParams *struct {
		Params []anyXML `xml:",any"`
	} `xml:"ReferenceParameters"`
}

// Subscribe creates a PullPoint subscription (CreatePullPointSubscription)
// ending after d unless renewed.
func (c *Client) Subscribe(ctx context.Context, d time.Duration) (*Subscription, error) {
	const op = "CreatePullPointSubscription"
	u, err := c.service(ctx, "events")
	if err != nil {
		return nil, err
	}
	var r struct {
		Ref             endpointRefXML `xml:"SubscriptionReference"`
		TerminationTime string         `xml:"TerminationTime"`
	}
	body := `<tev:CreatePullPointSubscription><tev:InitialTerminationTime>` + formatDuration(d) + `</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`
	action := nsTEV + "/EventPortType/CreatePullPointSubscriptionRequest"
	if err := c.call(ctx, u, nsTEV, op, action, true, wsaHeader(action, u, ""), body, 0, &r); err != nil {
		return nil, err
	}
	addr, err := c.onDevice(r.Ref.Address, false)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: subscription address: %w", op, err)
	}
	s := &Subscription{c: c, Address: addr}
	s.Termination, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(r.TerminationTime))
	if rp := r.Ref.RefParams; rp != nil {
		if len(rp.Params) > maxRefParams {
			return nil, fmt.Errorf("onvif: %s: %w: %d reference parameters", op, ErrUnexpectedReply, len(rp.Params))
		}
		for _, p := range rp.Params {
			b, err := xml.Marshal(p.withoutDeclarations())
			if err != nil {
				return nil, fmt.Errorf("onvif: %s: reference parameter: %w", op, err)
			}
			s.refParams += string(b)
		}
	}
	return s, nil
}

// wsaHeader is the WS-Addressing header of an event service request:
// devices route subscription requests by wsa:To and the reference
// parameters.
func wsaHeader(action, to, refParams string) string {
	return `<wsa:Action s:mustUnderstand="1">` + esc(action) + `</wsa:Action><wsa:To s:mustUnderstand="1">` + esc(to) + `</wsa:To>` + refParams
}

func (s *Subscription) call(ctx context.Context, ns, op, action, body string, wait time.Duration, out any) error {
	return s.c.call(ctx, s.Address, ns, op, action, true, wsaHeader(action, s.Address, s.refParams), body, wait, out)
}

type pullMessagesXML struct {
	CurrentTime     string            `xml:"CurrentTime"`
	TerminationTime string            `xml:"TerminationTime"`
	Messages        []notificationXML `xml:"NotificationMessage"`
}

type itemsXML struct {
	Items []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	} `xml:"SimpleItem"`
}

func (x itemsXML) items() []Item {
	if len(x.Items) == 0 {
		return nil
	}
	out := make([]Item, len(x.Items))
	for i, it := range x.Items {
		out[i] = Item{Name: it.Name, Value: it.Value}
	}
	return out
}

type notificationXML struct {
	Topic   string `xml:"Topic"`
	Message struct {
		Message struct {
			UtcTime           string   `xml:"UtcTime,attr"`
			PropertyOperation string   `xml:"PropertyOperation,attr"`
			Source            itemsXML `xml:"Source"`
			Key               itemsXML `xml:"Key"`
			Data              itemsXML `xml:"Data"`
		} `xml:"Message"`
	} `xml:"Message"`
}

func (n notificationXML) event() Event {
	m := n.Message.Message
	e := Event{
		Topic:     normalizeTopic(n.Topic),
		Operation: strings.TrimSpace(m.PropertyOperation),
		Source:    m.Source.items(),
		Key:       m.Key.items(),
		Data:      m.Data.items(),
	}
	e.Time, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(m.UtcTime))
	return e
}

// parsePullMessages decodes a PullMessagesResponse envelope.
func parsePullMessages(data []byte, status int) ([]Event, time.Time, error) {
	var r pullMessagesXML
	if err := decodeResponse(data, "PullMessages", nsTEV, "PullMessagesResponse", status, &r); err != nil {
		return nil, time.Time{}, err
	}
	return r.events()
}

func (r *pullMessagesXML) events() ([]Event, time.Time, error) {
	if len(r.Messages) > maxEvents {
		return nil, time.Time{}, fmt.Errorf("onvif: PullMessages: %w: %d messages in one reply", ErrTooLarge, len(r.Messages))
	}
	out := make([]Event, 0, len(r.Messages))
	for _, m := range r.Messages {
		e := m.event()
		if e.Topic == "" {
			return nil, time.Time{}, errors.New("onvif: PullMessages: a notification message has no topic")
		}
		out = append(out, e)
	}
	term, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(r.TerminationTime))
	return out, term, nil
}

// Pull waits up to timeout for events (PullMessages), returning at most
// limit of them (fewer, or none, when the wait ends first).
func (s *Subscription) Pull(ctx context.Context, timeout time.Duration, limit int) ([]Event, error) {
	if limit <= 0 || limit > maxEvents {
		limit = maxEvents
	}
	var r pullMessagesXML
	body := fmt.Sprintf(`<tev:PullMessages><tev:Timeout>%s</tev:Timeout><tev:MessageLimit>%d</tev:MessageLimit></tev:PullMessages>`, formatDuration(timeout), limit)
	if err := s.call(ctx, nsTEV, "PullMessages", nsTEV+"/PullPointSubscription/PullMessagesRequest", body, timeout, &r); err != nil {
		return nil, err
	}
	events, term, err := r.events()
	if err != nil {
		return nil, err
	}
	if len(events) > limit {
		return nil, fmt.Errorf("onvif: PullMessages: %w: %d messages, asked for at most %d", ErrUnexpectedReply, len(events), limit)
	}
	if !term.IsZero() {
		s.Termination = term
	}
	return events, nil
}

// Renew extends the subscription to end d from now (Renew), returning the
// new termination time the device states.
func (s *Subscription) Renew(ctx context.Context, d time.Duration) (time.Time, error) {
	var r struct {
		TerminationTime string `xml:"TerminationTime"`
	}
	body := `<wsnt:Renew><wsnt:TerminationTime>` + formatDuration(d) + `</wsnt:TerminationTime></wsnt:Renew>`
	if err := s.call(ctx, nsWSNT, "Renew", nsWSNT+"/SubscriptionManager/RenewRequest", body, 0, &r); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(r.TerminationTime))
	if err != nil {
		return time.Time{}, errors.New("onvif: Renew: the device gave no termination time")
	}
	s.Termination = t
	return t, nil
}

// Unsubscribe ends the subscription (Unsubscribe).
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	return s.call(ctx, nsWSNT, "Unsubscribe", nsWSNT+"/SubscriptionManager/UnsubscribeRequest", `<wsnt:Unsubscribe/>`, 0, nil)
}
