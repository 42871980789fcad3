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
}

// FaultProxy is a TCP proxy on loopback in front of one server, for one
// client process: its faults can be switched at run time (SetFault), and
// apply to open connections as well as new ones. Each chaos worker gets
// its own proxy, so faults are per worker.
type FaultProxy struct {
	ln     net.Listener
	target string
	fault  atomic.Pointer[Fault]

	mu     sync.Mutex
	rng    *rand.Rand
	conns  map[*net.TCPConn]struct{}
	closed bool
	wg     sync.WaitGroup

	// Counters of what the proxy did.
	Accepted, Dropped, Reset atomic.Int64
}

// NewFaultProxy listens on 127.0.0.1 (a free port) and forwards every
// connection to target ("127.0.0.1:9000"). seed seeds the fault dice.
func NewFaultProxy(target string, seed uint64) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{ln: ln, target: target, rng: rand.New(rand.NewPCG(seed, seed+1)), conns: make(map[*net.TCPConn]struct{})}
	p.fault.Store(&Fault{})
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's address (host:port).
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address as an http:// endpoint.
func (p *FaultProxy) URL() string { return "http://" + p.Addr() }

// SetFault switches the proxy to f, for open and new connections.
func (p *FaultProxy) SetFault(f Fault) { p.fault.Store(&f) }

// Fault returns the current fault.
func (p *FaultProxy) Fault() Fault { return *p.fault.Load() }

// ResetAll aborts every open connection (TCP RST on both sides).
func (p *FaultProxy) ResetAll() {
	p.mu.Lock()
	conns := make([]*net.TCPConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		abort(c)
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
	var once sync.Once
	kill := func(reset bool) {
		once.Do(func() {
			if reset {
				abort(client)
				abort(server)
				return
			}
			_ = client.Close()
			_ = server.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(server, client, kill) })
	wg.Go(func() { p.pipe(client, server, kill) })
	wg.Wait()
	kill(false)
}

// pipe copies src to dst chunk by chunk, applying the current fault to
// each chunk.
func (p *FaultProxy) pipe(dst, src *net.TCPConn, kill func(reset bool)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f := p.Fault()
			switch {
			case f.Blackhole:
				continue // swallowed
			case p.roll(f.ResetRate):
				p.Reset.Add(1)
				kill(true)
				return
			case p.roll(f.DropRate):
				p.Dropped.Add(1)
				kill(false)
				return
			}
			if f.Latency > 0 {
				time.Sleep(f.Latency) // the injected fault itself
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				kill(false)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = dst.CloseWrite() // pass the half-close on
				return
			}
			kill(false)
			return
		}
	}
}

// abort closes c with a TCP RST.
func abort(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
