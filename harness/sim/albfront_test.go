package sim

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// behindALB starts a candidate serving 2.0.0, registers it in the green
// group and lets the registration and any listener change take effect.
func behindALB(t *testing.T, r *Region, actions []elbtypes.Action) string {
	t.Helper()
	cand := serving(t, r)
	if err := register(t, r, r.Fixture().TargetGroupARNs[1], cand); err != nil {
		t.Fatal(err)
	}
	if actions != nil {
		shift(t, r, actions)
	}
	lat := r.Latencies()
	r.Advance(testCtx(), max(lat.TargetRegistration, lat.ListenerUpdate))
	return cand
}

// fetch sends one GET with a client: status and body.
func fetch(t *testing.T, c *http.Client, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Requests to the load balancer's DNS name reach the targets in the
// shares the weights give.
func TestALBFrontSplitsByWeight(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	behindALB(t, r, weighted(f, 75, 25, 0))
	c := r.HTTPClient()
	seen := map[string]int{}
	for n := range 400 {
		url := "http://" + f.LoadBalancerDNS + "/version"
		if n%2 == 1 {
			url = "http://" + f.LoadBalancerDNS + ":80/version"
		}
		status, body := fetch(t, c, url, "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %q", url, status, body)
		}
		seen[body]++
	}
	if len(seen) != 2 || seen["2.0.0"] < 60 || seen["2.0.0"] > 140 {
		t.Fatalf("400 requests at 75/25: %v, want about 100 on 2.0.0 and the rest on 1.0.0", seen)
	}
	if _, _, _, err := get(r, "http://"+f.LoadBalancerDNS+":8080/version"); err == nil {
		t.Error("the load balancer answered on a port it has no listener on")
	}
}

// A request whose Host header meets a rule's host condition is routed by
// that rule; any other by the default rule.
func TestALBFrontMatchesHostConditions(t *testing.T) {
	r := NewTest(t, Options{ALB: true, ALBRule: true})
	f := r.Fixture()
	behindALB(t, r, nil)
	if _, err := r.ELB().ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN), Actions: weighted(f, 0, 100, 0)}); err != nil {
		t.Fatal(err)
	}
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	c := r.HTTPClient()
	url := "http://" + f.LoadBalancerDNS + "/version"
	for host, want := range map[string]string{"": "1.0.0", "shop.example.com": "2.0.0", "SHOP.Example.com:80": "2.0.0", "www.shop.example.com": "1.0.0"} {
		if _, body := fetch(t, c, url, host); body != want {
			t.Errorf("Host %q: served %q, want %q", host, body, want)
		}
	}
	if _, err := r.ELB().ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN), Conditions: []elbtypes.RuleCondition{
		{Field: aws.String("host-header"), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: []string{"*.example.com"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, body := fetch(t, c, url, "www.example.com"); body != "2.0.0" {
		t.Errorf("*.example.com does not match www.example.com: served %q", body)
	}
	if _, body := fetch(t, c, url, "example.com"); body != "1.0.0" {
		t.Errorf("*.example.com matches example.com: served %q", body)
	}
	if _, err := r.ELB().ModifyRule(testCtx(), &elb.ModifyRuleInput{RuleArn: aws.String(f.RuleARN), Conditions: []elbtypes.RuleCondition{
		{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/api/*"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(url); err == nil || !strings.Contains(err.Error(), "path-pattern") {
		t.Errorf("a condition the simulator does not evaluate: %v, want an error naming it", err)
	}
}

// With target group stickiness the response sets the AWSALBTG cookie,
// and a client that keeps its cookies stays on its group.
func TestALBFrontKeepsSessionsOnTheirGroup(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	behindALB(t, r, weighted(f, 50, 50, 3600))
	url := "http://" + f.LoadBalancerDNS + "/version"
	sessions := map[string]int{}
	for range 20 {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := r.HTTPClient()
		c.Jar = jar
		_, first := fetch(t, c, url, "")
		for range 10 {
			if _, body := fetch(t, c, url, ""); body != first {
				t.Fatalf("a session with its cookie moved from %s to %s", first, body)
			}
		}
		sessions[first]++
	}
	if sessions["1.0.0"] == 0 || sessions["2.0.0"] == 0 {
		t.Fatalf("20 sessions at 50/50 all started on one side: %v", sessions)
	}
	resp, err := r.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "AWSALBTG" {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge != 3600 || cookie.Path != "/" {
		t.Fatalf("Set-Cookie %q: want AWSALBTG for the stickiness duration", resp.Header.Values("Set-Cookie"))
	}

	shift(t, r, weighted(f, 50, 50, 0))
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	resp, err = r.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 0 {
		t.Errorf("without stickiness the response sets %q", resp.Header.Values("Set-Cookie"))
	}
}

// A target's 5xx is the target group's HTTPCode_Target_5XX_Count; its
// other answers count in RequestCount only.
func TestALBFrontRecordsTargetAnswers(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	cand := behindALB(t, r, weighted(f, 0, 100, 0))
	start := r.Now()
	c := r.HTTPClient()
	url := "http://" + f.LoadBalancerDNS + "/version"
	for range 3 {
		if status, body := fetch(t, c, url, ""); status != 200 || body != "2.0.0" {
			t.Fatalf("%d %q", status, body)
		}
	}
	r.Host(cand).SetFailing(true)
	for range 2 {
		if status, _ := fetch(t, c, url, ""); status != http.StatusInternalServerError {
			t.Fatalf("a failing target answered %d", status)
		}
	}
	r.Advance(testCtx(), time.Minute+r.Latencies().MetricPublishDelay)
	dims := map[string]string{"LoadBalancer": suffixOf(f.LoadBalancerARN, ":loadbalancer/"), "TargetGroup": suffixOf(f.TargetGroupARNs[1], ":")}
	out, err := r.CloudWatch().GetMetricData(testCtx(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(r.Now()),
		MetricDataQueries: []cwtypes.MetricDataQuery{metric("req", "RequestCount", dims), metric("err", "HTTPCode_Target_5XX_Count", dims)}})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(res cwtypes.MetricDataResult) (s float64) {
		for _, v := range res.Values {
			s += v
		}
		return s
	}
	if req, errs := sum(out.MetricDataResults[0]), sum(out.MetricDataResults[1]); req != 5 || errs != 2 {
		t.Fatalf("green: %v requests, %v target 5xx; want 5 and 2", req, errs)
	}
}

// Where no target can take the request the load balancer answers itself:
// 503 when the group has none, 502 when the target refuses, 504 when it
// does not answer. None of these is a target's answer, so none counts.
func TestALBFrontAnswersItselfWithoutATarget(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	start := r.Now()
	shift(t, r, weighted(f, 0, 100, 60)) // green is empty
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	c := r.HTTPClient()
	url := "http://" + f.LoadBalancerDNS + "/version"
	status, body := fetch(t, c, url, "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "503 Service Temporarily Unavailable") {
		t.Fatalf("an empty group: %d %q, want the load balancer's 503", status, body)
	}

	shift(t, r, weighted(f, 100, 0, 0))
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	r.Host(f.LiveInstance).StopApp()
	if status, _ := fetch(t, c, url, ""); status != http.StatusBadGateway {
		t.Errorf("a target refusing the connection: %d, want 502", status)
	}
	if err := r.Host(f.LiveInstance).StartApp(); err != nil {
		t.Fatal(err)
	}
	if err := r.ImpairInstance(f.LiveInstance); err != nil {
		t.Fatal(err)
	}
	if status, _ := fetch(t, c, url, ""); status != http.StatusGatewayTimeout {
		t.Errorf("a target not answering: %d, want 504", status)
	}

	r.Advance(testCtx(), time.Minute+r.Latencies().MetricPublishDelay)
	lb := map[string]string{"LoadBalancer": suffixOf(f.LoadBalancerARN, ":loadbalancer/")}
	out, err := r.CloudWatch().GetMetricData(testCtx(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(r.Now()),
		MetricDataQueries: []cwtypes.MetricDataQuery{metric("req", "RequestCount", lb)}})
	if err != nil {
		t.Fatal(err)
	}
	if res := out.MetricDataResults[0]; len(res.Values) != 0 {
		t.Fatalf("the load balancer's own answers were recorded: %v", res.Values)
	}
}

// The load balancer is internet-facing: a function in the VPC without a
// NAT gateway does not reach it, a caller outside does, and the load
// balancer reaches its targets' private addresses either way.
func TestALBFrontIsPublic(t *testing.T) {
	r := NewTest(t, Options{ALB: true, FunctionsInVPC: []string{"smoke"}})
	f := r.Fixture()
	url := "http://" + f.LoadBalancerDNS + "/version"
	if status, body := fetch(t, r.HTTPClient(), url, ""); status != 200 || body != "1.0.0" {
		t.Fatalf("from outside the VPC: %d %q", status, body)
	}
	req, _ := http.NewRequestWithContext(WithCaller(testCtx(), "smoke"), http.MethodGet, url, nil)
	_, err := r.HTTPClient().Do(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("from a function in the VPC: %v, want a timeout", err)
	}
}

// ALBServing names the targets of the group carrying most of the weight
// in force.
func TestALBServing(t *testing.T) {
	r := NewTest(t, Options{ALB: true})
	f := r.Fixture()
	if got := r.ALBServing(f.ListenerARN); !slices.Equal(got, []string{f.LiveInstance}) {
		t.Fatalf("the fixture serves %v, want the live instance", got)
	}
	cand := behindALB(t, r, weighted(f, 25, 75, 0))
	if got := r.ALBServing(f.ListenerARN); !slices.Equal(got, []string{cand}) {
		t.Fatalf("at 25/75 %v serve, want the candidate", got)
	}
	shift(t, r, weighted(f, 0, 0, 0))
	r.Advance(testCtx(), r.Latencies().ListenerUpdate)
	if got := r.ALBServing(f.ListenerARN); got != nil {
		t.Fatalf("with every weight 0 %v serve", got)
	}
	if got := r.ALBServing(f.ListenerARN + "0"); got != nil {
		t.Fatalf("an unknown listener: %v", got)
	}
}
