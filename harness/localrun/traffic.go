package localrun

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// Users is the caller the region records for the simulated users'
// requests.
const Users = "users"

// userSessions is how many users make the requests through the load
// balancer, taking turns: each keeps its own cookies, so stickiness holds
// per user as in a browser.
const userSessions = 5

// sessionLength is how long a user stays: then a new one, with no cookie,
// takes their turn. Without newcomers group stickiness would keep every
// user on the side they first reached, and a small step would get no
// traffic at all; with them, a step's share of new visitors reaches the
// candidate, as on a real site.
const sessionLength = 2 * time.Minute

// withTraffic sets traffic.mode to mode ("" keeps the config's). In
// elasticIp mode the ALB's settings, which apply in alb mode only, go.
func withTraffic(c release.Config, mode string) (release.Config, error) {
	switch mode {
	case "":
	case release.TrafficElasticIP:
		c.Traffic = release.TrafficConfig{Mode: release.TrafficElasticIP}
	case release.TrafficALB:
		c.Traffic.Mode = release.TrafficALB
	default:
		return c, fmt.Errorf("traffic mode %q is not one of %s, %s", mode, release.TrafficElasticIP, release.TrafficALB)
	}
	return c, nil
}

// localAlarms are the alarms a local run in alb mode watches and the
// simulated region creates (in OK): the config's, or one 5xx alarm for
// the app when it names none.
func localAlarms(c release.Config) []string {
	if !c.UsesALB() {
		return nil
	}
	if len(c.Traffic.Alarms) > 0 {
		return c.Traffic.Alarms
	}
	return []string{c.App + "-5xx"}
}

// revalidate parses the changed config again, as `greenlight validate`
// would read it: a local run starts only on a config the stack accepts.
func revalidate(c release.Config) (release.Config, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	out, err := release.ParseConfig(b)
	if err != nil {
		return c, fmt.Errorf("the config pointed at the simulated region: %w", err)
	}
	return out, nil
}

// ALBRequests are the users' requests through the load balancer.
type ALBRequests struct {
	Requests int `json:"requests"`
	// OK requests were answered 2xx; Failed ones with any other status,
	// the load balancer's own included, or not at all.
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// ByVersion counts the OK requests by the version that answered.
	ByVersion map[string]int `json:"byVersion"`
}

// albUsers are the users of an app behind the load balancer.
type albUsers struct {
	url, host string
	sessions  []*http.Client
	// since is when each session made its first request (zero: not yet).
	since []time.Time
	next  int
	// newSession is a client with an empty cookie jar.
	newSession func() (*http.Client, error)
}

func newALBUsers(e *Env) (*albUsers, error) {
	u := &albUsers{url: "http://" + e.Fixture.LoadBalancerDNS, host: e.albHost()}
	u.newSession = func() (*http.Client, error) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, err
		}
		c := e.Region.HTTPClient()
		c.Jar = jar
		return c, nil
	}
	for range userSessions {
		c, err := u.newSession()
		if err != nil {
			return nil, err
		}
		u.sessions = append(u.sessions, c)
		u.since = append(u.since, time.Time{})
	}
	return u, nil
}

// albRequest is one user's request through the load balancer: with a
// data volume a write (the app stores it on the volume of the instance
// the load balancer chose), otherwise a read of the version.
func (e *Env) albRequest() {
	now := e.Region.Now()
	e.mu.Lock()
	u := e.albModel
	i := u.next % len(u.sessions)
	u.next++
	switch {
	case u.since[i].IsZero():
		u.since[i] = now
	case now.Sub(u.since[i]) >= sessionLength:
		if c, err := u.newSession(); err == nil {
			u.sessions[i], u.since[i] = c, now
		}
	}
	client := u.sessions[i]
	e.mu.Unlock()
	method, path := http.MethodGet, "/version"
	if e.Config.HasData() {
		method, path = http.MethodPost, sim.WritePath
	}
	version, ok := "", false
	req, err := http.NewRequestWithContext(sim.WithCaller(e.ctx, Users), method, u.url+path, nil)
	if err == nil {
		req.Host = u.host
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ok = resp.StatusCode >= 200 && resp.StatusCode < 300
			version = strings.TrimSpace(string(body))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &e.albRequests
	r.Requests++
	if !ok {
		r.Failed++
		if e.Config.HasData() {
			e.writes.Refused++
		}
		return
	}
	r.OK++
	if r.ByVersion == nil {
		r.ByVersion = map[string]int{}
	}
	r.ByVersion[version]++
	if e.Config.HasData() {
		e.writes.Accepted++
	}
}

// ALBRequests are the counts of the users' requests through the load
// balancer so far; nil outside alb mode.
func (e *Env) ALBRequests() *ALBRequests {
	if !e.Config.UsesALB() || e.albModel == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.albRequests
	out.ByVersion = map[string]int{}
	for v, n := range e.albRequests.ByVersion {
		out.ByVersion[v] = n
	}
	return &out
}

// albHost is the Host header that reaches the app through the load
// balancer: the rule's host name when the config names a rule.
func (e *Env) albHost() string {
	if a := e.Config.Traffic.ALB; a != nil && a.RuleARN != "" {
		return e.Fixture.RuleHost
	}
	return e.Fixture.LoadBalancerDNS
}

// albARN is the listener, or the rule, the config manages.
func (e *Env) albARN() string {
	if a := e.Config.Traffic.ALB; a != nil && a.RuleARN != "" {
		return a.RuleARN
	}
	return e.Fixture.ListenerARN
}
