// Package netfront is the local engine's network in front of the apps it
// runs as processes on loopback: Front is the instance's nginx with
// greenlight's maintenance snippet, AddressProxy is the Elastic IP that
// sends each connection to the instance it points to.
package netfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/greenlight/greenlight/instance"
)

// proxyTimeout is nginx's default proxy_connect_timeout and
// proxy_read_timeout: an app that does not accept or answer within it
// gets 504.
const proxyTimeout = 60 * time.Second

// Front stands where nginx stands on an instance, with the maintenance
// snippet (instance/nginx/greenlight-maintenance.conf) included:
//
//   - while the flag file exists (tested on every request, as nginx's
//     `if (-f …)` does), GET and HEAD get the snippet's status, headers
//     and content type with the maintenance page; any other method gets
//     405 with the same headers, because error_page to a named location
//     keeps the method and nginx's static module serves files to GET and
//     HEAD only (TestFrontMatchesNginx holds this against nginx; the
//     snippet's own comment promises 503 to every request);
//   - otherwise the request goes to the app, whose answers, 503 included,
//     pass unchanged; an app that refuses or drops the connection gives
//     502, one that does not answer within proxyTimeout 504.
//
// Requests reach the app as proxy_pass sends them: Host is the app's
// address, and X-Forwarded-For gets the client's address appended, as
// with proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for (which
// the server block in instance/README.md does not set).
type Front struct {
	flag     string
	answer   maintenance
	page     []byte
	upstream atomic.Pointer[string]

	ln        net.Listener
	srv       *http.Server
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	served    chan struct{}

	mu sync.Mutex
	// Upgraded connections, which http.Server forgets; kept until Close
	// (closing one the proxy closed already is harmless).
	hijacked map[net.Conn]struct{}
}

// NewFront starts a front on a 127.0.0.1 port of its own, in front of the
// app at upstream (host:port); flagPath is the app's maintenance flag
// (/var/lib/greenlight/<app>/maintenance on an instance).
func NewFront(flagPath, upstream string) (*Front, error) {
	snippet, err := instance.Assets.ReadFile("nginx/greenlight-maintenance.conf")
	if err != nil {
		return nil, err
	}
	page, err := instance.Assets.ReadFile("nginx/maintenance.html")
	if err != nil {
		return nil, err
	}
	answer, err := parseSnippet(string(snippet))
	if err != nil {
		return nil, err
	}
	return newFront(flagPath, upstream, answer, page)
}

func newFront(flagPath, upstream string, answer maintenance, page []byte) (*Front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netfront: listen: %w", err)
	}
	quiet := log.New(io.Discard, "", 0) // the status codes are the report
	f := &Front{
		flag:     flagPath,
		answer:   answer,
		page:     page,
		ln:       ln,
		served:   make(chan struct{}),
		hijacked: map[net.Conn]struct{}{},
		transport: &http.Transport{
			// Never an HTTP proxy from the environment: the app is local.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: proxyTimeout}).DialContext,
			ResponseHeaderTimeout: proxyTimeout,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
		},
	}
	f.upstream.Store(&upstream)
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      f.rewrite,
		Transport:    f.transport,
		ErrorHandler: f.upstreamFailed,
		ErrorLog:     quiet,
	}
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serve),
		ReadHeaderTimeout: 60 * time.Second, // nginx's client_header_timeout
		ErrorLog:          quiet,
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateHijacked {
				f.mu.Lock()
				f.hijacked[c] = struct{}{}
				f.mu.Unlock()
			}
		},
	}
	go func() {
		defer close(f.served)
		_ = f.srv.Serve(ln)
	}()
	return f, nil
}

// Addr is the front's host:port.
func (f *Front) Addr() string { return f.ln.Addr().String() }

// Upstream is the app's address requests go to now.
func (f *Front) Upstream() string { return *f.upstream.Load() }

// SetUpstream points the front at the app's new address (the app was
// restarted on another port). Requests already sent finish where they are.
func (f *Front) SetUpstream(addr string) {
	f.upstream.Store(&addr)
	// Kept-alive connections to the old address are of no further use.
	f.transport.CloseIdleConnections()
}

// Close stops listening and closes every client connection, upgraded ones
// included; requests in flight to the app are cancelled with them.
func (f *Front) Close() error {
	err := f.srv.Close()
	<-f.served
	f.mu.Lock()
	for c := range f.hijacked {
		c.Close()
	}
	f.hijacked = map[net.Conn]struct{}{}
	f.mu.Unlock()
	f.transport.CloseIdleConnections()
	return err
}

func (f *Front) serve(w http.ResponseWriter, r *http.Request) {
	if f.answer.page != "" && r.URL.Path == f.answer.page {
		// The page's location is internal: nginx serves it only to its
		// own redirect, flag or not, and answers 404 from that location,
		// with its headers.
		f.addHeaders(w)
		nginxError(w, http.StatusNotFound, "Not Found")
		return
	}
	// nginx's -f: a regular file, symbolic links followed.
	if fi, err := os.Stat(f.flag); err == nil && fi.Mode().IsRegular() {
		f.maintenance(w, r)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// addHeaders adds the page location's `add_header … always` headers.
func (f *Front) addHeaders(w http.ResponseWriter) {
	for k, v := range f.answer.header {
		w.Header()[k] = append([]string(nil), v...)
	}
}

func (f *Front) maintenance(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	f.addHeaders(w)
	if f.answer.page == "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A named location keeps the method: the static module refuses.
		nginxError(w, http.StatusMethodNotAllowed, "Not Allowed")
		return
	}
	h.Set("Content-Type", f.answer.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.page)))
	w.WriteHeader(f.answer.status)
	_, _ = w.Write(f.page)
}

func (f *Front) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(&url.URL{Scheme: "http", Host: f.Upstream()})
	// $proxy_add_x_forwarded_for: the client's header, then its address.
	client, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		client = pr.In.RemoteAddr
	}
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		client = strings.Join(prior, ", ") + ", " + client
	}
	pr.Out.Header.Set("X-Forwarded-For", client)
}

// upstreamFailed is nginx's answer when the app cannot be reached or
// fails mid-answer: 504 for a timeout, 502 for everything else.
func (f *Front) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		nginxError(w, http.StatusGatewayTimeout, "Gateway Time-out")
		return
	}
	nginxError(w, http.StatusBadGateway, "Bad Gateway")
}

// nginxError writes nginx's own error page for code, without its
// signature line.
func nginxError(w http.ResponseWriter, code int, text string) {
	title := fmt.Sprintf("%d %s", code, text)
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title + "</h1></center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
