package sim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// StickinessCookie is the cookie of target group stickiness: "When the
// load balancer first routes a request to a weighted target group, it
// generates a cookie named AWSALBTG that encodes information about the
// selected target group, encrypts the cookie, and includes the cookie in
// the response to the client" ("Forward actions",
// elasticloadbalancing/latest/application/rule-action-types.html).
const StickinessCookie = "AWSALBTG"

// loadBalancerCaller is who opens the connections from the load balancer
// to its targets. "The nodes of an internet-facing load balancer have
// public IP addresses. Load balancers route requests to your targets using
// private IP addresses" ("What is Elastic Load Balancing?",
// elasticloadbalancing/latest/userguide/what-is-load-balancing.html): a
// client reaches the load balancer on a public address, the load balancer
// reaches the targets on private ones.
const loadBalancerCaller = "elasticloadbalancing"

// albTransport is the load balancer in front of the app servers. A
// request to a load balancer's DNS name on a listener's port is routed as
// the listener routes it (see albFront); every other request goes to next
// untouched.
//
// Answers, from "Troubleshoot your Application Load Balancers"
// (elasticloadbalancing/latest/application/load-balancer-troubleshooting.html):
// "The load balancer forwards valid HTTP responses from targets to the
// client, including HTTP errors"; when the rule's target group has no
// target to offer, the load balancer answers 503 itself ("HTTP 503:
// Service unavailable. The target groups for the load balancer have no
// registered targets"; a weighted rule "does not automatically fail over
// to a target group with healthy targets", rule-action-types.html); a
// target that refuses the connection or drops it mid-request is 502 ("The
// load balancer received a TCP RST from the target when attempting to
// establish a connection"; "The target closed the connection with a TCP
// RST or a TCP FIN while the load balancer had an outstanding request"),
// one that does not answer is 504 ("The load balancer failed to establish
// a connection to the target before the connection timeout expired"). The
// load balancer's own answers are not target responses, so they are not
// recorded (see RecordALBRequest).
type albTransport struct {
	r    *Region
	next http.RoundTripper
}

func (t *albTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.next.RoundTrip(req)
	}
	port := 80
	if p := req.URL.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	cookie := ""
	if c, err := req.Cookie(StickinessCookie); err == nil {
		cookie = c.Value
	}
	hostHeader := req.Host
	if hostHeader == "" {
		hostHeader = req.URL.Host
	}
	route, front, err := t.r.albFront(req.URL.Hostname(), port, hostHeader, cookie, CallerFrom(req.Context()))
	if !front {
		return t.next.RoundTrip(req)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr(req.URL.Host), Err: err}
	}
	var resp *http.Response
	if route.Address == "" {
		resp = loadBalancerAnswer(req, http.StatusServiceUnavailable)
	} else {
		out := req.Clone(WithCaller(req.Context(), loadBalancerCaller))
		out.URL.Host, out.Host = route.Address, hostHeader
		resp, err = t.next.RoundTrip(out)
		var ne net.Error
		switch {
		case err != nil && req.Context().Err() != nil:
			return nil, err
		case errors.As(err, &ne) && ne.Timeout():
			resp = loadBalancerAnswer(req, http.StatusGatewayTimeout)
		case err != nil:
			resp = loadBalancerAnswer(req, http.StatusBadGateway)
		default:
			if err := t.r.RecordALBRequest(route.TargetGroupARN, resp.StatusCode); err != nil {
				resp.Body.Close()
				return nil, err
			}
			resp.Request = req
		}
	}
	if route.Cookie != "" {
		// The value alone carries the expiry on the simulated clock; the
		// client keeps the cookie for the duration of wall-clock time.
		c := &http.Cookie{Name: StickinessCookie, Value: route.Cookie, Path: "/", MaxAge: int(route.stickiness.Seconds())}
		resp.Header.Add("Set-Cookie", c.String())
	}
	return resp, nil
}

// loadBalancerAnswer is a response the load balancer generates. Its 503
// reads "503 Service Temporarily Unavailable": a response containing it
// "comes from the Application Load Balancer" (AWS re:Post Knowledge
// Center, "How do I troubleshoot Application Load Balancer HTTP 503
// errors?", repost.aws/knowledge-center/alb-troubleshoot-503-errors).
func loadBalancerAnswer(req *http.Request, status int) *http.Response {
	text := http.StatusText(status)
	if status == http.StatusServiceUnavailable {
		text = "Service Temporarily Unavailable"
	}
	line := fmt.Sprintf("%d %s", status, text)
	body := "<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line + "</h1></center>\r\n</body>\r\n</html>\r\n"
	return &http.Response{Status: line, StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Close: true, Request: req}
}

// albFront routes a request to host:port when host is a load balancer's
// DNS name and port one of its listeners' (front is false otherwise: the
// request is not the load balancer's). The listener's rules are tried in
// priority order and the default rule last ("Rules are evaluated in
// priority order, from the lowest value to the highest value. The default
// rule is evaluated last", "Rule priority",
// elasticloadbalancing/latest/application/load-balancer-listeners.html).
// The fixture's load balancer is internet-facing: a caller that reaches no
// public address does not reach it (see loadBalancerCaller).
func (r *Region) albFront(host string, port int, hostHeader, cookie, caller string) (route ALBRoute, front bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	var ls *listener
	for _, arn := range r.balancerOrder {
		lb := r.balancers[arn]
		if !strings.EqualFold(lb.dnsName, host) {
			continue
		}
		for _, l := range lb.listeners {
			if int(l.port) == port {
				ls = l
			}
		}
	}
	switch {
	case ls == nil:
		return ALBRoute{}, false, nil
	case r.closed:
		return ALBRoute{}, true, errors.New("region is closed")
	case !r.reachable(caller, true):
		return ALBRoute{}, true, dialTimeout{addr: net.JoinHostPort(host, strconv.Itoa(port))}
	}
	rl := ls.defaultRule
	for _, candidate := range ls.rules {
		ok, err := candidate.matchesHost(hostHeader)
		if err != nil {
			return ALBRoute{}, true, err
		}
		if ok {
			rl = candidate
			break
		}
	}
	return r.albRoute(rl, cookie), true, nil
}

// matchesHost reports whether a request with this Host header meets the
// rule's conditions, all of them. Only host-header conditions are
// modelled: "A hostname is not case-sensitive … * (matches 0 or more
// characters) ? (matches exactly 1 character)", and a condition with
// several names is met when one matches ("Host conditions",
// elasticloadbalancing/latest/application/rule-condition-types.html;
// HostHeaderConditionConfig, APIReference/API_HostHeaderConditionConfig.html).
// Any other condition, or a regular expression, is an error rather than a
// guess at where the request would go.
func (rl *rule) matchesHost(hostHeader string) (bool, error) {
	host := strings.ToLower(hostHeader)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, c := range rl.conditions {
		field := aws.ToString(c.Field)
		values := c.Values
		if cfg := c.HostHeaderConfig; cfg != nil {
			if len(cfg.RegexValues) > 0 {
				return false, fmt.Errorf("sim: rule %s: regular expressions in host-header conditions are not modelled", rl.arn)
			}
			values = append(values, cfg.Values...)
		}
		if field != "host-header" || len(c.RegexValues) > 0 {
			return false, fmt.Errorf("sim: rule %s: only host-header conditions are modelled, not %q", rl.arn, field)
		}
		met := false
		for _, v := range values {
			if ok, _ := path.Match(strings.ToLower(v), host); ok {
				met = true
			}
		}
		if !met {
			return false, nil
		}
	}
	return true, nil
}
