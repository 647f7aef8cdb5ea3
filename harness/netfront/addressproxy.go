package netfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// AddressProxy is an Elastic IP on loopback: each TCP connection goes to
// the instance the address points to when the connection opens, and stays
// there until the address is remapped.
//
// What AWS documents is the remap itself: "With an Elastic IP address, you
// can mask the failure of an instance or software by rapidly remapping the
// address to another instance in your account"
// (AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html); associating an
// address that is already associated means it "is disassociated from that
// instance and associated with the specified instance"
// (AWSEC2/latest/APIReference/API_AssociateAddress.html). AWS does not say
// what becomes of connections open at that moment. That part is TCP: the
// client's next segment of an old connection reaches the new instance,
// which has no such connection and resets it ("If the connection does not
// exist (CLOSED), then a reset is sent in response to any incoming segment
// except another reset", RFC 9293, 3.5.2), while the old instance hears
// nothing more from the client and its answer never arrives.
//
// Remapped reproduces that, with one simplification: the client is reset
// at once rather than at its next segment. The old instance's side is kept
// open and silent, its answer read and dropped, until it closes it itself
// or the proxy closes: an app that was handling a request still finishes
// it, as it would on AWS.
type AddressProxy struct {
	ln     net.Listener
	route  func() (string, error)
	ctx    context.Context // cancelled by Close: aborts dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	live    map[*flow]struct{}
	orphans map[*flow]struct{} // cut, the old instance's side still draining
	current string             // the target of the last Remapped
	remaps  uint64
	cut     int
	closed  bool
}

// flow is one client connection and its connection to the target.
type flow struct {
	client, server net.Conn
	target         string
	cut            atomic.Bool
}

// NewAddressProxy listens on a 127.0.0.1 port of its own. For each
// connection it calls route once for the target (host:port of the front
// of the instance the address points to); an error closes the connection
// at once, as does a target that refuses.
func NewAddressProxy(route func() (target string, err error)) (*AddressProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netfront: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &AddressProxy{
		ln:      ln,
		route:   route,
		ctx:     ctx,
		cancel:  cancel,
		live:    map[*flow]struct{}{},
		orphans: map[*flow]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port: the Elastic IP.
func (p *AddressProxy) Addr() string { return p.ln.Addr().String() }

// InFlight is how many connections are open and forwarded now.
func (p *AddressProxy) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.live)
}

// Cut is how many connections remaps have cut so far.
func (p *AddressProxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Remapped tells the proxy the address now points to current: every open
// connection to another target is cut (its client reset), and so is any
// connection routed before this call that opens after it. It returns how
// many open connections it cut.
func (p *AddressProxy) Remapped(current string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = current
	p.remaps++
	n := 0
	for f := range p.live {
		if f.target == current {
			continue
		}
		// Marked before the reset, so the pipes see why they failed.
		f.cut.Store(true)
		delete(p.live, f)
		p.orphans[f] = struct{}{}
		reset(f.client)
		n++
	}
	p.cut += n
	return n
}

// Close stops listening, closes every connection on both sides and waits
// until every goroutine of the proxy has returned.
func (p *AddressProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, set := range []map[*flow]struct{}{p.live, p.orphans} {
		for f := range set {
			f.client.Close()
			f.server.Close()
		}
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.cancel()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *AddressProxy) accept() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: retry, as http.Server does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *AddressProxy) handle(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	gen := p.remaps
	p.mu.Unlock()
	target, err := p.route()
	if err != nil {
		client.Close()
		return
	}
	var d net.Dialer
	server, err := d.DialContext(p.ctx, "tcp", target)
	if err != nil {
		client.Close()
		return
	}
	f := &flow{client: client, server: server, target: target}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	case p.remaps != gen && target != p.current:
		// Routed to the old instance just before a remap this call
		// never saw: cut like the connections Remapped found.
		p.cut++
		p.mu.Unlock()
		reset(client)
		server.Close()
		return
	}
	p.live[f] = struct{}{}
	p.mu.Unlock()

	toServer := make(chan struct{})
	go func() {
		defer close(toServer)
		f.forward(server, client)
	}()
	f.forward(client, server)
	<-toServer
	if f.cut.Load() {
		// The old instance's answer goes nowhere.
		_, _ = io.Copy(io.Discard, server)
	}
	client.Close()
	server.Close()
	p.mu.Lock()
	delete(p.live, f)
	delete(p.orphans, f)
	p.mu.Unlock()
}

// forward copies src to dst. At src's end it half-closes dst, so each
// side sees the other's FIN; a failure either way ends the whole flow.
// After a cut it leaves the old instance's side alone.
func (f *flow) forward(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if f.cut.Load() {
		return
	}
	if err != nil {
		f.client.Close()
		f.server.Close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}

// reset closes c with a RST rather than a FIN, as the new instance does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
