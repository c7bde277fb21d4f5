package doorbell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// MQTTSource reports a press for every message published on a doorbell's
// topic on the household's broker. Retained messages are not presses (a
// broker replays them on every subscription, which would ring at each
// reconnect); the payload is not read.
type MQTTSource struct {
	// Broker is mqtt://host:1883 or tls://host:8883 (also tcp://, ssl://,
	// mqtts://).
	Broker   string
	Username string
	Password string // never logged
	// ClientID identifies the subscriber; "" means "vigil-hub-doorbells".
	ClientID string
	// Topics maps a topic (no wildcards) to its doorbell camera.
	Topics map[string]string
	// RetryDelay is the wait between connection attempts; 0 means 5s.
	RetryDelay time.Duration
	// Now is the hub's clock; nil means time.Now.
	Now func() time.Time
	// Logger gets connection errors; nil discards.
	Logger *slog.Logger
	// Subscribed, if set, is called after each successful subscription.
	Subscribed func()
}

// Run connects, subscribes to every topic (again after each reconnection)
// and reports presses until ctx ends.
func (s *MQTTSource) Run(ctx context.Context, press func(Press)) error {
	u, err := url.Parse(s.Broker)
	if err != nil || u.Host == "" {
		return errors.New("doorbell: the MQTT broker must be a URL such as mqtt://192.168.1.10:1883")
	}
	switch u.Scheme {
	case "mqtt", "tcp", "tls", "ssl", "mqtts":
	default:
		return fmt.Errorf("doorbell: MQTT broker URL scheme %q not supported (want mqtt:// or tls://)", u.Scheme)
	}
	if len(s.Topics) == 0 {
		return errors.New("doorbell: no MQTT topics")
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	retry := s.RetryDelay
	if retry <= 0 {
		retry = 5 * time.Second
	}
	id := s.ClientID
	if id == "" {
		id = "vigil-hub-doorbells"
	}
	var subs []paho.SubscribeOptions
	for t := range s.Topics {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup // subscriptions in flight
	defer wg.Wait()
	ac := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectRetryDelay:             retry,
		ReconnectBackoff:              func(int) time.Duration { return retry },
		ConnectTimeout:                10 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sctx, scancel := context.WithTimeout(cctx, 30*time.Second)
				defer scancel()
				if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
					log.Warn("doorbell: MQTT subscribe", "broker", u.Host, "err", err)
					return
				}
				if s.Subscribed != nil {
					s.Subscribed()
				}
			}()
		},
		OnConnectError: func(err error) { log.Warn("doorbell: MQTT cannot connect", "broker", u.Host, "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: id,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					if cam, ok := s.Topics[pr.Packet.Topic]; ok && !pr.Packet.Retain {
						press(Press{Camera: cam, Time: now(), Source: "mqtt"})
					}
					return true, nil
				},
			},
			OnClientError: func(err error) { log.Warn("doorbell: MQTT connection error", "broker", u.Host, "err", err) },
		},
	}
	if s.Username != "" {
		ac.ConnectUsername = s.Username
		ac.ConnectPassword = []byte(s.Password)
	}
	cm, err := autopaho.NewConnection(cctx, ac)
	if err != nil {
		return fmt.Errorf("doorbell: MQTT: %w", err)
	}
	<-ctx.Done()
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	cm.Disconnect(dctx)
	dcancel()
	cancel()
	<-cm.Done()
	return ctx.Err()
}
