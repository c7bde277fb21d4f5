package bus

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LocalOptions configure a Local bus; zero values take the defaults.
type LocalOptions struct {
	DedupWindow time.Duration // DefaultDedupWindow
	MaxDeliver  int           // DefaultMaxDeliver
	RetryDelay  time.Duration // DefaultRetryDelay
	// QueueLen is each subscription's queue of messages not yet handled;
	// past it messages to that subscription are dropped (a slow consumer,
	// as NATS does). 0 means 4096.
	QueueLen int
	Logger   *slog.Logger
}

// Local is the Bus of one process: publish and subscribe in memory, work
// queues in memory (durable for the life of the process only). It is the
// embedded default; every replica of a cluster needs natsbus instead.
type Local struct {
	opt LocalOptions
	ctx context.Context // cancelled by Close
	end context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   map[*localSub]struct{}
	queues map[string]*localQueue
	wg     sync.WaitGroup
}

// NewLocal returns an in-process Bus.
func NewLocal(o LocalOptions) *Local {
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, end := context.WithCancel(context.Background())
	return &Local{opt: o, ctx: ctx, end: end, subs: map[*localSub]struct{}{}, queues: map[string]*localQueue{}}
}

type localMsg struct {
	subject string
	data    []byte
}

type localSub struct {
	b       *Local
	pattern string
	ch      chan localMsg
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped int
}

// Publish implements Bus.
func (b *Local) Publish(ctx context.Context, subject string, data []byte) error {
	if err := CheckSubject(subject, false); err != nil {
		return err
	}
	if len(data) > MaxData {
		return ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	var cp []byte
	for s := range b.subs {
		if !Match(s.pattern, subject) {
			continue
		}
		if cp == nil {
			cp = append([]byte{}, data...)
		}
		select {
		case s.ch <- localMsg{subject, cp}:
		default:
			if s.dropped++; s.dropped == 1 || s.dropped%1000 == 0 {
				b.opt.Logger.Warn("bus: a slow subscriber lost messages", "pattern", s.pattern, "dropped", s.dropped)
			}
		}
	}
	return nil
}

// Subscribe implements Bus.
func (b *Local) Subscribe(pattern string, h Handler) (Sub, error) {
	if err := CheckSubject(pattern, true); err != nil {
		return nil, err
	}
	s := &localSub{b: b, pattern: pattern, ch: make(chan localMsg, b.opt.QueueLen), stop: make(chan struct{}), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.subs[s] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case m := <-s.ch:
				select {
				case <-s.stop:
					return
				default:
				}
				h(m.subject, m.data)
			}
		}
	}()
	return s, nil
}

func (s *localSub) Stop() {
	s.once.Do(func() {
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
		close(s.stop)
	})
	<-s.done
}

// localQueue is one work queue: jobs waiting, and the IDs seen recently.
type localQueue struct {
	seen    map[string]time.Time // job ID -> when it was enqueued
	order   []string             // the IDs of seen, oldest first
	pending []localJob
	workers map[chan struct{}]struct{} // each worker's wake-up call
}

type localJob struct {
	data     []byte
	attempts int
	due      time.Time
}

func (b *Local) queue(name string) *localQueue {
	q := b.queues[name]
	if q == nil {
		q = &localQueue{seen: map[string]time.Time{}, workers: map[chan struct{}]struct{}{}}
		b.queues[name] = q
	}
	return q
}

// wake tells every worker to look at the queue (with b.mu held).
func (q *localQueue) wake() {
	for k := range q.workers {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Enqueue implements Bus.
func (b *Local) Enqueue(ctx context.Context, queue, id string, data []byte) (bool, error) {
	if err := CheckQueue(queue); err != nil {
		return false, err
	}
	if err := CheckJobID(id); err != nil {
		return false, err
	}
	if len(data) > MaxData {
		return false, ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrClosed
	}
	q := b.queue(queue)
	now := time.Now()
	for len(q.order) > 0 && now.Sub(q.seen[q.order[0]]) > b.opt.DedupWindow {
		delete(q.seen, q.order[0])
		q.order = q.order[1:]
	}
	if _, dup := q.seen[id]; dup {
		return false, nil
	}
	q.seen[id] = now
	q.order = append(q.order, id)
	q.pending = append(q.pending, localJob{data: append([]byte{}, data...), due: now})
	q.wake()
	return true, nil
}

type localWorker struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	end  context.CancelFunc
}

func (w *localWorker) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.end()
	})
	<-w.done
}

// Work implements Bus.
func (b *Local) Work(queue string, h JobHandler) (Sub, error) {
	if err := CheckQueue(queue); err != nil {
		return nil, err
	}
	ctx, end := context.WithCancel(b.ctx)
	w := &localWorker{stop: make(chan struct{}), done: make(chan struct{}), end: end}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		end()
		return nil, ErrClosed
	}
	q := b.queue(queue)
	kick := make(chan struct{}, 1)
	q.workers[kick] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer close(w.done)
		defer func() {
			b.mu.Lock()
			delete(q.workers, kick)
			b.mu.Unlock()
		}()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			job, wait, ok := b.take(q)
			if ok {
				err := h(ctx, job.data)
				if err != nil && ctx.Err() == nil {
					b.retry(q, job, err)
				} else if err != nil { // stopped while running: hand it to another worker
					b.mu.Lock()
					q.pending = append(q.pending, job)
					q.wake()
					b.mu.Unlock()
				}
				continue
			}
			timer.Reset(wait)
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			case <-kick:
			case <-timer.C:
			}
		}
	}()
	return w, nil
}

// take removes the first job due, or says how long until one is.
func (b *Local) take(q *localQueue) (localJob, time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	wait := time.Hour
	for i, j := range q.pending {
		if !j.due.After(now) {
			q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
			return j, 0, true
		}
		wait = min(wait, j.due.Sub(now))
	}
	return localJob{}, wait, false
}

func (b *Local) retry(q *localQueue, j localJob, err error) {
	j.attempts++
	if j.attempts >= b.opt.MaxDeliver {
		b.opt.Logger.Warn("bus: a job failed every attempt; dropped", "attempts", j.attempts, "err", err)
		return
	}
	j.due = time.Now().Add(b.opt.RetryDelay)
	b.mu.Lock()
	q.pending = append(q.pending, j)
	q.wake()
	b.mu.Unlock()
}

// Ready implements Bus.
func (b *Local) Ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Bus.
func (b *Local) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return nil
	}
	b.closed = true
	subs := make([]*localSub, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	b.end()
	for _, s := range subs {
		s.once.Do(func() { close(s.stop) })
	}
	b.wg.Wait()
	return nil
}
