package netfront

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// lineServer answers each line "x" of each connection with "name:x".
func lineServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, name+":"+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// conn is a client of the proxy that says a line and reads the answer.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialProxy(t *testing.T, p *AddressProxy) *conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &conn{t, c, bufio.NewReader(c)}
}

func (c *conn) say(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
	answer, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("answer to %q: %v", line, err)
	}
	return strings.TrimSuffix(answer, "\n")
}

// end reads on and returns why no byte came: io.EOF for a close, ECONNRESET
// for a reset.
func (c *conn) end() error {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		return fmt.Errorf("read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("the connection is still open")
	}
	return err
}

// closed reports a connection that ended other than by a close or reset.
func closed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}

// route is a route function whose answer the test changes.
type route struct{ target atomic.Pointer[string] }

func (r *route) set(target string) { r.target.Store(&target) }
func (r *route) get() (string, error) {
	if t := r.target.Load(); t != nil {
		return *t, nil
	}
	return "", errors.New("not associated")
}

func newProxy(t *testing.T, route func() (string, error)) *AddressProxy {
	t.Helper()
	p, err := NewAddressProxy(route)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Each connection goes where route pointed when it opened, and stays
// there while route points elsewhere (no remap yet).
func TestAddressProxyRoutesAtAccept(t *testing.T) {
	a, b := lineServer(t, "a"), lineServer(t, "b")
	var r route
	r.set(a)
	p := newProxy(t, r.get)
	first := dialProxy(t, p)
	if got := first.say("1"); got != "a:1" {
		t.Fatalf("first: %s", got)
	}
	r.set(b)
	second := dialProxy(t, p)
	if got := second.say("1"); got != "b:1" {
		t.Fatalf("second: %s", got)
	}
	if got := first.say("2"); got != "a:2" {
		t.Fatalf("first, after route changed: %s", got)
	}
	if n := p.InFlight(); n != 2 {
		t.Errorf("InFlight = %d", n)
	}
}

// A remap cuts the connection whose request the old instance is holding:
// the client is reset without the answer, the old instance hears nothing
// and still answers (into the void). Connections to the new target carry
// on, new ones go there.
func TestAddressProxyRemapCutsInFlight(t *testing.T) {
	// old holds its one connection's request until released, watching
	// whether anything (FIN, RST, bytes) arrives meanwhile.
	oldLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer oldLn.Close()
	got, release := make(chan string, 1), make(chan struct{})
	heard := make(chan error, 1)
	answered := make(chan error, 1)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := oldLn.Accept()
		if err != nil {
			return
		}
		accepted <- c // closed by the test, after it has read heard
		r := bufio.NewReader(c)
		line, _ := r.ReadString('\n')
		got <- line
		go func() {
			_, err := r.ReadByte()
			heard <- err
		}()
		<-release
		_, err = io.WriteString(c, "old:"+line)
		answered <- err
	}()
	newer := lineServer(t, "new")

	var r route
	r.set(oldLn.Addr().String())
	p := newProxy(t, r.get)
	inFlight := dialProxy(t, p)
	if _, err := io.WriteString(inFlight.c, "write\n"); err != nil {
		t.Fatal(err)
	}
	<-got
	defer (<-accepted).Close()
	r.set(newer)
	current := dialProxy(t, p)
	if got := current.say("1"); got != "new:1" {
		t.Fatalf("current: %s", got)
	}

	if n := p.Remapped(newer); n != 1 {
		t.Errorf("Remapped cut %d, want 1", n)
	}
	if err := inFlight.end(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the in-flight connection after the remap: %v, want a reset", err)
	}
	if got := current.say("2"); got != "new:2" {
		t.Errorf("current, after the remap: %s", got)
	}
	if got := dialProxy(t, p).say("1"); got != "new:1" {
		t.Errorf("a new connection after the remap: %s", got)
	}
	if p.Cut() != 1 || p.InFlight() != 2 {
		t.Errorf("Cut = %d, InFlight = %d; want 1, 2", p.Cut(), p.InFlight())
	}

	select {
	case err := <-heard:
		t.Fatalf("the old instance heard of the cut: %v", err)
	default:
	}
	close(release)
	if err := <-answered; err != nil {
		t.Errorf("the old instance could not answer: %v", err)
	}
	p.Close()
	// A reset when the proxy closes with the answer not yet drained.
	if err := closed(<-heard); err != nil {
		t.Errorf("the old instance, after the proxy closed: %v", err)
	}
}

// A connection routed to the old target just before the remap, and
// opened just after it, is cut too.
func TestAddressProxyRemapDuringRoute(t *testing.T) {
	old, newer := lineServer(t, "old"), lineServer(t, "new")
	routing, proceed := make(chan struct{}), make(chan struct{})
	p := newProxy(t, func() (string, error) {
		routing <- struct{}{}
		<-proceed
		return old, nil
	})
	c := dialProxy(t, p)
	<-routing
	if n := p.Remapped(newer); n != 0 {
		t.Errorf("Remapped cut %d open connections, want 0", n)
	}
	close(proceed)
	if err := c.end(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("routed before the remap: %v, want a reset", err)
	}
	if p.Cut() != 1 {
		t.Errorf("Cut = %d", p.Cut())
	}
}

// No target (route fails, or the target refuses): the client's
// connection is closed at once.
func TestAddressProxyNoTarget(t *testing.T) {
	var r route // never set: route fails
	p := newProxy(t, r.get)
	if err := closed(dialProxy(t, p).end()); err != nil {
		t.Errorf("route error: %v", err)
	}
	refusing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.set(refusing.Addr().String())
	refusing.Close()
	if err := closed(dialProxy(t, p).end()); err != nil {
		t.Errorf("refused: %v", err)
	}
	if p.InFlight() != 0 || p.Cut() != 0 {
		t.Errorf("InFlight = %d, Cut = %d", p.InFlight(), p.Cut())
	}
}

// A client that half-closes after its request still gets the whole
// answer: the FIN travels to the target and back.
func TestAddressProxyHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c) // to the client's FIN
		_, _ = io.WriteString(c, "got "+string(req))
	}()
	p := newProxy(t, func() (string, error) { return ln.Addr().String(), nil })
	c := dialProxy(t, p)
	if _, err := io.WriteString(c.c, "all of it"); err != nil {
		t.Fatal(err)
	}
	if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c.r)
	if err != nil || string(answer) != "got all of it" {
		t.Errorf("%q %v", answer, err)
	}
}

// Close closes every connection, cut ones still draining included, and
// returns only when none of the proxy's goroutines is left.
func TestAddressProxyClose(t *testing.T) {
	a, b := lineServer(t, "a"), lineServer(t, "b")
	var r route
	r.set(a)
	p, err := NewAddressProxy(r.get)
	if err != nil {
		t.Fatal(err)
	}
	one, two := dialProxy(t, p), dialProxy(t, p)
	one.say("1")
	two.say("1")
	r.set(b)
	p.Remapped(b) // both cut; their old sides drain until Close
	fresh := dialProxy(t, p)
	fresh.say("1")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed(fresh.end()); err != nil {
		t.Errorf("live connection after Close: %v", err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("still accepting after Close")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"(*AddressProxy)", "(*flow)"} {
		if strings.Contains(stacks, "netfront."+fn) {
			t.Errorf("a goroutine in %s after Close:\n%s", fn, stacks)
		}
	}
}
