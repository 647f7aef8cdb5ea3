package sim

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// An app server is one instance's application: a real HTTP server on a
// loopback port. Region.HTTPClient routes the instance's addresses to it,
// so steps make real HTTP requests to "10.0.1.23:8080".
type appServer struct {
	ln  net.Listener
	srv *http.Server
}

func (s *appServer) close() error {
	err := s.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// WritePath is where the app takes a user's write: a POST there stores
// one write on the instance's data volume (Region.Write) and answers 201
// with the version that stored it, or 503 when the write is refused.
const WritePath = "/writes"

// MaintenanceRetryAfter is the Retry-After, in seconds, the maintenance
// page sends: the order of a cutover's maintenance window.
const MaintenanceRetryAfter = 60

// HTTPClient returns a client whose connections to an instance's private
// IP, public IP or an Elastic IP (on the app's port) reach that
// instance's app server; the Elastic IP reaches the instance traffic
// follows at that moment. An instance that is not up does not answer (a
// timeout, at once: the clock is simulated); one whose app is stopped, or
// listens on another port, refuses the connection. Requests to a load
// balancer's DNS name go through it (albTransport). Keep-alive is off so
// every request is routed afresh, as an Elastic IP move breaks open
// connections.
func (r *Region) HTTPClient() *http.Client {
	direct := &http.Transport{DialContext: r.dial, DisableKeepAlives: true, Proxy: nil}
	return &http.Client{
		Transport: &albTransport{r: r, next: direct},
		Timeout:   30 * time.Second,
	}
}

// dialTimeout is the error a dial to an address nothing answers on gives.
type dialTimeout struct{ addr string }

func (e dialTimeout) Error() string   { return "dial tcp " + e.addr + ": i/o timeout" }
func (e dialTimeout) Timeout() bool   { return true }
func (e dialTimeout) Temporary() bool { return true }
func (e dialTimeout) Unwrap() error   { return os.ErrDeadlineExceeded }

func (r *Region) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portText)
	loopback, err := r.route(host, port, CallerFrom(ctx))
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: fakeAddr(addr), Err: err}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", loopback)
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// SetAppFronts makes the instances' apps real: a connection to an
// instance that is up, on the app's port, goes to front(instanceID), the
// loopback address of the process standing for it (nginx and the app
// behind it), instead of the modelled app server. front reports false
// for an instance it has nothing for: the connection is refused.
func (r *Region) SetAppFronts(front func(instanceID string) (string, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appFront = front
}

// Route is where a connection from caller to host:port goes now: the
// loopback address serving it, or the error the dial meets (a timeout
// when nothing is there, connection refused when nothing listens).
func (r *Region) Route(host string, port int, caller string) (string, error) {
	return r.route(host, port, caller)
}

// route finds the loopback address serving host:port now, starting the
// instance's app server on first use.
func (r *Region) route(host string, port int, caller string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	if r.closed {
		return "", errors.New("region is closed")
	}
	now := r.now()
	var target *instance
	for _, i := range r.instances {
		if i.state != stateTerminated && (i.privateIP == host || (i.publicIP != "" && i.publicIP == host && !r.isElasticIP(host))) {
			target = i
		}
	}
	public := false
	if a := r.addressByIP(host); a != nil {
		target, public = r.instances[a.trafficAt(now)], true
	} else if target != nil {
		public = target.privateIP != host
	}
	switch {
	case target == nil || !target.osUp(now, r.lat) || !r.reachable(caller, public):
		return "", dialTimeout{addr: net.JoinHostPort(host, strconv.Itoa(port))}
	case r.appFront != nil && target.app.Port == port:
		// A real front (nginx's part) runs whenever the OS is up: it,
		// not the model, answers for a stopped app or maintenance.
		if addr, ok := r.appFront(target.id); ok {
			return addr, nil
		}
		return "", syscall.ECONNREFUSED
	case !target.app.Running || target.app.Version == "" || target.app.Port != port:
		return "", syscall.ECONNREFUSED
	}
	s, ok := r.servers[target.id]
	if !ok {
		var err error
		if s, err = r.startAppServer(target.id); err != nil {
			return "", err
		}
		r.servers[target.id] = s
	}
	return s.ln.Addr().String(), nil
}

// reachable models the network path from a caller to an address, where
// Options.FunctionsInVPC turns the model on. A Lambda function not attached
// to a VPC reaches public addresses only: "Lambda functions can't access
// resources in a VPC" unless attached to it; one attached to the VPC
// reaches private addresses and, without a NAT gateway, nothing on the
// internet ("Giving Lambda functions access to resources in an Amazon
// VPC" and "Enable internet access for VPC-connected Lambda functions",
// lambda/latest/dg/configuration-vpc.html, configuration-vpc-internet.html).
// Callers the stack does not deploy (the test, simulated users) are
// outside the VPC; the load balancer's nodes are inside. Called with r.mu
// held.
func (r *Region) reachable(caller string, public bool) bool {
	if r.opts.FunctionsInVPC == nil {
		return true
	}
	return public != (caller == loadBalancerCaller || slices.Contains(r.opts.FunctionsInVPC, caller))
}

// noRoute is the error an AWS API call from a function in the VPC meets:
// the VPC gives it no path to the service's public endpoint (no NAT
// gateway, no VPC endpoint is part of the stack), so the connection times
// out. Called with r.mu held.
func (r *Region) noRoute(service, caller string) error {
	if r.opts.FunctionsInVPC == nil || !slices.Contains(r.opts.FunctionsInVPC, caller) {
		return nil
	}
	prefix, ok := endpointPrefix[service]
	if !ok {
		prefix = strings.ToLower(service)
	}
	addr := prefix + "." + r.opts.Region + ".amazonaws.com:443"
	return &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr(addr), Err: dialTimeout{addr: addr}}}
}

// endpointPrefix is the host name a service's regional endpoint starts
// with, where it is not the service's short name in lower case.
var endpointPrefix = map[string]string{ServiceELB: "elasticloadbalancing", ServiceCloudWatch: "monitoring"}

func (r *Region) isElasticIP(ip string) bool { return r.addressByIP(ip) != nil }

func (r *Region) startAppServer(id string) (*appServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sim: app server for %s: %w", id, err)
	}
	s := &appServer{ln: ln, srv: &http.Server{Handler: r.appHandler(id), ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// appHandler answers as the app on an instance does at the moment of the
// request: the health path, /version, the home page, a user's write, the
// maintenance page, or 500 when the app is failing. A request arriving after the app stopped finds the connection
// dropped.
func (r *Region) appHandler(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.settle()
		i := r.instances[id]
		var app AppState
		serving := i != nil && i.osUp(r.now(), r.lat) && i.app.Running && i.app.Version != ""
		if serving {
			app = i.app
		}
		name := r.opts.App
		r.mu.Unlock()
		if !serving {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			http.Error(w, "app is down", http.StatusBadGateway)
			return
		}
		if app.Maintenance {
			w.Header().Set("Retry-After", strconv.Itoa(MaintenanceRetryAfter))
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "<!doctype html><html><head><title>%[1]s: maintenance</title></head><body><h1>%[1]s is down for maintenance</h1><p>We will be back shortly.</p></body></html>\n", html.EscapeString(name))
			return
		}
		if app.Failing && req.URL.Path != app.HealthPath {
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		if req.Method == http.MethodPost && req.URL.Path == WritePath {
			if err := r.Write(id); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, app.Version)
			return
		}
		switch req.URL.Path {
		case app.HealthPath:
			fmt.Fprint(w, "ok")
		case "/version":
			fmt.Fprint(w, app.Version)
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><html><head><title>%[1]s %[2]s</title></head><body><h1>%[1]s</h1><p>version %[2]s</p></body></html>\n", html.EscapeString(name), html.EscapeString(app.Version))
		default:
			http.NotFound(w, req)
		}
	})
}
