package netfront

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/nginxtest"
	"github.com/greenlight/greenlight/instance"
)

// testApp answers "/" with name, "/busy" with its own 503, "/echo" with
// the X-Forwarded-For and Host it received, "/slow" not at all until the
// caller goes away, and "/drop" by closing the connection unanswered.
func testApp(t *testing.T, name string) *httptest.Server {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read to the end: only then does the server notice the caller
		// going away, which /slow waits for.
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, name+" busy")
		case "/echo":
			fmt.Fprintf(w, "xff=%s host=%s", r.Header.Get("X-Forwarded-For"), r.Host)
		case "/slow":
			<-r.Context().Done()
		case "/drop":
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
		default:
			fmt.Fprint(w, name)
		}
	}))
	t.Cleanup(app.Close)
	return app
}

// client never reuses a connection, so each request stands alone.
var client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// answer is what the comparison looks at.
type answer struct {
	status                          int
	retryAfter, cacheControl, media string
	body                            string
}

// nginxTitle is the title of nginx's own error pages: the Front's copy
// has no signature line, so only the title is compared.
var nginxTitle = regexp.MustCompile(`<title>([^<]*)</title>`)

func ask(t *testing.T, addr, method, path string, header http.Header) answer {
	t.Helper()
	var body io.Reader
	if method != "GET" && method != "HEAD" {
		body = strings.NewReader("x=1")
	}
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", addr, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s %s: body: %v", addr, method, path, err)
	}
	a := answer{
		status:       resp.StatusCode,
		retryAfter:   resp.Header.Get("Retry-After"),
		cacheControl: resp.Header.Get("Cache-Control"),
		body:         string(b),
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if a.media, _, err = mime.ParseMediaType(ct); err != nil {
			t.Fatalf("%s %s %s: Content-Type %q: %v", addr, method, path, ct, err)
		}
	}
	// The test app answers none of these itself: they are the proxy's.
	if a.status == 404 || a.status == 405 || a.status == 502 || a.status == 504 {
		if m := nginxTitle.FindStringSubmatch(a.body); m != nil {
			a.body = m[1]
		}
	}
	return a
}

// The same requests against real nginx with the snippet and against the
// Front, both in front of the same app and reading the same flag: every
// answer has the same status, Retry-After, Cache-Control, media type and
// body (title only for nginx's own error pages).
func TestFrontMatchesNginx(t *testing.T) {
	app := testApp(t, "app")
	appAddr := app.Listener.Addr().String()
	nginxConf := nginxtest.Config{
		Root:     t.TempDir(),
		App:      "shop",
		Upstream: app.URL,
		Proxy: []string{
			"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
			"proxy_read_timeout 1s", // the Front's timeout is shortened to match below
		},
	}
	nginx := nginxtest.Start(t, nginxConf)
	flag := nginxConf.Flag()
	front, err := NewFront(flag, appAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	front.transport.ResponseHeaderTimeout = time.Second

	page, err := instance.Assets.ReadFile("nginx/maintenance.html")
	if err != nil {
		t.Fatal(err)
	}
	same := func(method, path string, header http.Header, want answer) {
		t.Helper()
		n := ask(t, nginx, method, path, header)
		f := ask(t, front.Addr(), method, path, header)
		if n != f {
			t.Errorf("%s %s: nginx and the Front differ\nnginx: %+v\nfront: %+v", method, path, n, f)
		}
		if n.status != want.status || (want.body != "" && n.body != want.body) || n.retryAfter != want.retryAfter {
			t.Errorf("%s %s: nginx answered %+v, the test expects %+v", method, path, n, want)
		}
	}
	setFlag := func(on bool) {
		t.Helper()
		if !on {
			if err := os.Remove(flag); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.MkdirAll(strings.TrimSuffix(flag, "/maintenance"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(flag, []byte("on\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Flag off: the app answers, its own 503 untouched.
	same("GET", "/", nil, answer{status: 200, body: "app"})
	same("POST", "/", nil, answer{status: 200, body: "app"})
	same("GET", "/busy", nil, answer{status: 503, retryAfter: "7", body: "app busy"})
	same("GET", "/echo", http.Header{"X-Forwarded-For": {"203.0.113.7"}},
		answer{status: 200, body: "xff=203.0.113.7, 127.0.0.1 host=" + appAddr})
	same("GET", "/drop", nil, answer{status: 502, body: "502 Bad Gateway"})
	same("GET", "/slow", nil, answer{status: 504, body: "504 Gateway Time-out"})

	// The page's own URI is internal, flag or not (nginx's 404 comes from
	// the page's location, with its headers).
	same("GET", "/greenlight-maintenance.html", nil, answer{status: 404, retryAfter: "120", body: "404 Not Found"})

	// Flag on: the page for every method (a write gets 503 and
	// Retry-After too, not 405), the app unasked.
	setFlag(true)
	for _, path := range []string{"/", "/busy"} {
		same("GET", path, nil, answer{status: 503, retryAfter: "120", body: string(page)})
	}
	same("HEAD", "/", nil, answer{status: 503, retryAfter: "120"})
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		same(method, "/", nil, answer{status: 503, retryAfter: "120", body: string(page)})
	}
	same("GET", "/greenlight-maintenance.html", nil, answer{status: 404, retryAfter: "120", body: "404 Not Found"})

	// A directory is not the flag.
	setFlag(false)
	if err := os.Mkdir(flag, 0o755); err != nil {
		t.Fatal(err)
	}
	same("GET", "/", nil, answer{status: 200, body: "app"})
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}

	// Flag removed: the app again.
	same("GET", "/", nil, answer{status: 200, body: "app"})

	// App down: 502, unless maintenance answers without it.
	app.Close()
	same("GET", "/", nil, answer{status: 502, body: "502 Bad Gateway"})
	setFlag(true)
	same("GET", "/", nil, answer{status: 503, retryAfter: "120", body: string(page)})
}

// SetUpstream moves the front to the app's new address at once; an
// address nothing listens on gives 502.
func TestFrontSetUpstream(t *testing.T) {
	one, two := testApp(t, "one"), testApp(t, "two")
	front, err := NewFront(t.TempDir()+"/maintenance", one.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	if a := ask(t, front.Addr(), "GET", "/", nil); a.body != "one" {
		t.Fatalf("before: %+v", a)
	}
	front.SetUpstream(two.Listener.Addr().String())
	if a := ask(t, front.Addr(), "GET", "/", nil); a.body != "two" {
		t.Fatalf("after SetUpstream: %+v", a)
	}
	if front.Upstream() != two.Listener.Addr().String() {
		t.Errorf("Upstream = %s", front.Upstream())
	}
	one.Close()
	front.SetUpstream(one.Listener.Addr().String())
	if a := ask(t, front.Addr(), "GET", "/", nil); a.status != 502 {
		t.Fatalf("app gone: %+v", a)
	}
}

// The maintenance answer comes from the snippet it is given, not from
// constants: a snippet with another Retry-After changes the Front.
func TestFrontAnswersFromSnippet(t *testing.T) {
	m, err := parseSnippet(`
error_page 503 @m;
if (-f /flag) { return 503; }
location @m {
    add_header Retry-After 30 always;
    add_header X-Dropped "not always";
    default_type text/html;
}`)
	if err != nil {
		t.Fatal(err)
	}
	flag := t.TempDir() + "/maintenance"
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	front, err := newFront(flag, "127.0.0.1:1", m, []byte("page"))
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	resp, err := client.Get("http://" + front.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "30" || resp.Header.Get("X-Dropped") != "" || resp.Header.Get("Cache-Control") != "" {
		t.Errorf("%d %v", resp.StatusCode, resp.Header)
	}
}

// Close closes the listener and every client connection: one waiting for
// the app, one kept alive and idle, and one upgraded (which http.Server
// itself forgets).
func TestFrontClose(t *testing.T) {
	holding := make(chan struct{}, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			holding <- struct{}{}
			<-r.Context().Done()
		case "/upgrade":
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			rw.Flush()
			_, _ = io.Copy(c, rw)
		default:
			fmt.Fprint(w, "app")
		}
	}))
	defer app.Close()
	front, err := NewFront(t.TempDir()+"/maintenance", app.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	addr := front.Addr()

	dial := func(request string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	// Idle: one answered request, the connection kept alive.
	idle, idleR := dial("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Upgraded: a 101, then bytes echoed both ways.
	up, upR := dial("GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	if resp, err := http.ReadResponse(upR, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, err := io.WriteString(up, "ping"); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if _, err := io.ReadFull(upR, echo); err != nil || string(echo) != "ping" {
		t.Fatalf("echo: %q %v", echo, err)
	}
	// Waiting: the app holds the request.
	waiting, waitingR := dial("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
	<-holding

	if err := front.Close(); err != nil {
		t.Fatal(err)
	}
	for _, open := range []struct {
		name string
		c    net.Conn
		r    *bufio.Reader
	}{{"idle", idle, idleR}, {"upgraded", up, upR}, {"waiting", waiting, waitingR}} {
		name, c, r := open.name, open.c, open.r
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := r.ReadByte(); err == nil {
			t.Errorf("%s: read %q after Close", name, b)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open after Close", name)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still accepting after Close")
	}
}
