package chaos

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what a FaultProxy does to the traffic it forwards. The zero
// value forwards faithfully.
type Fault struct {
	// Latency is added before each chunk is forwarded, in both directions.
	Latency time.Duration
	// DropRate is the probability, per forwarded chunk and per new
	// connection, that the connection is closed (FIN) on both sides.
	DropRate float64
	// ResetRate is the same for an abortive close (TCP RST, SO_LINGER 0).
	ResetRate float64
	// Blackhole swallows every byte in both directions without closing
	// anything: a partition, seen by the client as timeouts.
	Blackhole bool
	// HangRate is the probability, per chunk a client sends, that its
	// request is accepted and never answered: from then on no byte of
	// the server's reaches the client, and the connection is held open
	// until the fault is turned off (SetFault with HangRate 0), ResetAll
	// or Close, which close it. The client sees a timeout, then the
	// connection closing.
	HangRate float64
	// HangForwards makes a held connection still forward what the client
	// sends (the server may act on a request the client never hears
	// about); otherwise the proxy swallows it.
	HangForwards bool
}

// faultState is the current fault with the channel that releases the
// connections held by it.
type faultState struct {
	f       Fault
	release chan struct{} // closed when the fault stops holding
}

// FaultProxy is a TCP proxy on loopback in front of one server, for one
// client process: its faults can be switched at run time (SetFault), and
// apply to open connections as well as new ones. Each chaos worker gets
// its own proxy, so faults are per worker.
type FaultProxy struct {
	ln     net.Listener
	target string
	fault  atomic.Pointer[faultState]

	setMu  sync.Mutex // serialises SetFault
	mu     sync.Mutex
	rng    *rand.Rand
	conns  map[*net.TCPConn]struct{}
	held   map[*link]struct{}
	closed bool
	wg     sync.WaitGroup

	// Counters of what the proxy did. Hung counts held connections.
	Accepted, Dropped, Reset, Hung atomic.Int64
}

// NewFaultProxy listens on 127.0.0.1 (a free port) and forwards every
// connection to target ("127.0.0.1:9000"). seed seeds the fault dice.
func NewFaultProxy(target string, seed uint64) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, seed+1)), conns: make(map[*net.TCPConn]struct{}), held: make(map[*link]struct{})}
	p.fault.Store(&faultState{release: make(chan struct{})})
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's address (host:port).
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address as an http:// endpoint.
func (p *FaultProxy) URL() string { return "http://" + p.Addr() }

// SetFault switches the proxy to f, for open and new connections. An f
// whose HangRate is 0 releases the held connections.
func (p *FaultProxy) SetFault(f Fault) {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	old := p.fault.Load()
	st := &faultState{f: f, release: old.release}
	if f.HangRate <= 0 {
		st.release = make(chan struct{})
	}
	p.fault.Store(st)
	if st.release != old.release {
		close(old.release)
	}
}

// Fault returns the current fault.
func (p *FaultProxy) Fault() Fault { return p.fault.Load().f }

// ResetAll aborts every open connection (TCP RST on both sides), held
// ones included.
func (p *FaultProxy) ResetAll() {
	p.mu.Lock()
	conns := make([]*net.TCPConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	held := make([]*link, 0, len(p.held))
	for l := range p.held {
		held = append(held, l)
	}
	p.mu.Unlock()
	for _, c := range conns {
		abort(c)
	}
	for _, l := range held {
		l.kill(true)
	}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *FaultProxy) roll(rate float64) bool {
	if rate <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < rate
}

func (p *FaultProxy) track(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) untrack(c *net.TCPConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *FaultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.Accepted.Add(1)
		client := c.(*net.TCPConn)
		f := p.Fault()
		switch {
		case p.roll(f.ResetRate):
			p.Reset.Add(1)
			abort(client)
			continue
		case p.roll(f.DropRate):
			p.Dropped.Add(1)
			_ = client.Close()
			continue
		}
		p.wg.Go(func() { p.serve(client) })
	}
}

func (p *FaultProxy) serve(client *net.TCPConn) {
	if !p.track(client) {
		abort(client)
		return
	}
	defer p.untrack(client)
	sc, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		abort(client)
		return
	}
	server := sc.(*net.TCPConn)
	if !p.track(server) {
		abort(client)
		abort(server)
		return
	}
	defer p.untrack(server)
	l := &link{client: client, server: server, killed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(server, client, l, true) })
	wg.Go(func() { p.pipe(client, server, l, false) })
	wg.Wait()
	if l.hung.Load() {
		<-l.killed // held open until released
	}
	l.kill(false)
}

// link is one proxied connection: the client's side and the server's.
type link struct {
	client, server *net.TCPConn
	once           sync.Once
	killed         chan struct{} // closed by kill
	hung           atomic.Bool   // held: nothing goes back to the client
	forward        bool          // while held, forward the client's bytes; set before hung
}

// kill closes both sides, once: with a RST if reset.
func (l *link) kill(reset bool) {
	l.once.Do(func() {
		defer close(l.killed)
		if reset {
			abort(l.client)
			abort(l.server)
			return
		}
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// hold makes l a held connection until release is closed, ResetAll or
// Close; then it is closed.
func (p *FaultProxy) hold(l *link, release <-chan struct{}, forward bool) {
	l.forward = forward
	l.hung.Store(true)
	p.Hung.Add(1)
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.held[l] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		l.kill(true)
		return
	}
	p.wg.Go(func() {
		select {
		case <-release:
			l.kill(false)
		case <-l.killed: // reset, or the client went away
		}
		p.mu.Lock()
		delete(p.held, l)
		p.mu.Unlock()
	})
}

// pipe copies src to dst chunk by chunk, applying the current fault to
// each chunk. request is the client-to-server direction.
func (p *FaultProxy) pipe(dst, src *net.TCPConn, l *link, request bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			st := p.fault.Load()
			f := st.f
			switch {
			case l.hung.Load():
				if request && l.forward {
					_, _ = dst.Write(buf[:n]) // the server may be gone: no matter
				}
				continue // never answered, or swallowed
			case f.Blackhole:
				continue // swallowed
			case p.roll(f.ResetRate):
				p.Reset.Add(1)
				l.kill(true)
				return
			case p.roll(f.DropRate):
				p.Dropped.Add(1)
				l.kill(false)
				return
			case request && p.roll(f.HangRate):
				p.hold(l, st.release, f.HangForwards)
				if !f.HangForwards {
					continue
				}
			default:
				if f.Latency > 0 {
					time.Sleep(f.Latency) // the injected fault itself
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.kill(false)
				return
			}
		}
		if err != nil {
			if l.hung.Load() {
				// A held client hears nothing, not even the server
				// going away; one that broke off ends the hold.
				switch {
				case !request:
				case !errors.Is(err, io.EOF):
					l.kill(false)
				case l.forward:
					_ = dst.CloseWrite()
				}
				return
			}
			if errors.Is(err, io.EOF) {
				_ = dst.CloseWrite() // pass the half-close on
				return
			}
			l.kill(false)
			return
		}
	}
}

// abort closes c with a TCP RST.
func abort(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
