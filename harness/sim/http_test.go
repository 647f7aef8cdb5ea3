package sim

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// get fetches a URL with the region's client: status and body, or the
// error.
func get(r *Region, url string) (int, string, http.Header, error) {
	resp, err := r.HTTPClient().Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, nil
}

func TestAppServer(t *testing.T) {
	r := NewTest(t, Options{App: "shop", LiveVersion: "1.4.2"})
	f := r.Fixture()
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", 200, "ok"},
		{"/version", 200, "1.4.2"},
		{"/", 200, "<h1>shop</h1><p>version 1.4.2</p>"},
		{"/nope", 404, "404 page not found"},
	} {
		for _, host := range []string{f.PublicIP, f.LivePrivateIP} {
			status, body, _, err := get(r, "http://"+host+":8080"+c.path)
			if err != nil || status != c.status || !strings.Contains(body, c.body) {
				t.Errorf("GET %s%s: %d %q %v, want %d containing %q", host, c.path, status, body, err, c.status, c.body)
			}
		}
	}

	r.Host(f.LiveInstance).SetMaintenance(true)
	status, body, header, err := get(r, "http://"+f.PublicIP+":8080/healthz")
	if err != nil || status != 503 || header.Get("Retry-After") == "" || !strings.Contains(body, "maintenance") {
		t.Errorf("maintenance: %d %q Retry-After=%q %v", status, body, header.Get("Retry-After"), err)
	}
	r.Host(f.LiveInstance).SetMaintenance(false)

	if _, _, _, err := get(r, "http://"+f.PublicIP+":9090/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("wrong port: %v, want connection refused", err)
	}
	r.Host(f.LiveInstance).StopApp()
	if _, _, _, err := get(r, "http://"+f.PublicIP+":8080/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("app stopped: %v, want connection refused", err)
	}
	_, _, _, err = get(r, "http://10.0.9.9:8080/")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("unknown address: %v, want a timeout", err)
	}
}

// A new instance answers only once its OS is up and a version is
// installed; the Elastic IP reaches whichever instance traffic follows.
func TestTrafficFollowsTheElasticIP(t *testing.T) {
	r := NewTest(t, Options{})
	f := r.Fixture()
	lat := r.Latencies()
	cand := runInstance(t, r, f.LiveAZ)
	r.Advance(testCtx(), lat.PendingToRunning)
	ip := aws.ToString(describe(t, r, cand).PrivateIpAddress)
	if _, _, _, err := get(r, "http://"+ip+":8080/"); err == nil {
		t.Fatal("candidate answers before its OS is up")
	}
	r.Advance(testCtx(), lat.OSBoot)
	if _, _, _, err := get(r, "http://"+ip+":8080/"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("candidate without an app: %v, want connection refused", err)
	}
	h := r.Host(cand)
	h.Install("2.0.0", "r2", 5)
	if err := h.StartApp(); err != nil {
		t.Fatal(err)
	}
	if _, body, _, _ := get(r, "http://"+ip+":8080/version"); body != "2.0.0" {
		t.Fatalf("candidate version %q", body)
	}
	_, err := r.EC2().AssociateAddress(testCtx(), &ec2.AssociateAddressInput{AllocationId: aws.String(f.AllocationID), InstanceId: aws.String(cand), AllowReassociation: aws.Bool(true)})
	wantCode(t, err, "")
	if _, body, _, _ := get(r, "http://"+f.PublicIP+":8080/version"); body != "1.0.0" {
		t.Errorf("right after the move the public endpoint serves %q, want still 1.0.0", body)
	}
	r.Advance(testCtx(), lat.AssociateAddress)
	if _, body, _, _ := get(r, "http://"+f.PublicIP+":8080/version"); body != "2.0.0" {
		t.Errorf("after %v the public endpoint serves %q, want 2.0.0", lat.AssociateAddress, body)
	}
}

func TestCloseStopsAppServers(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := r.Fixture()
	if _, _, _, err := get(r, "http://"+f.PublicIP+":8080/"); err != nil {
		t.Fatal(err)
	}
	addr := r.servers[f.LiveInstance].ln.Addr().String()
	r.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("app server %s still listening after Close", addr)
	}
	if _, _, _, err := get(r, "http://"+f.PublicIP+":8080/"); err == nil {
		t.Fatal("closed region still serves")
	}
}

// A POST to the app's write path stores one write on its data volume, or
// is refused with 503 and stores nothing.
func TestAppServerTakesWrites(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	f := r.Fixture()
	url := "http://" + f.PublicIP + ":8080" + WritePath
	post := func() (int, string) {
		t.Helper()
		resp, err := r.HTTPClient().Post(url, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	writes := func() int64 {
		n, err := r.VolumeWrites(f.DataVolume)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := writes()
	if status, body := post(); status != http.StatusCreated || body != "1.0.0" {
		t.Fatalf("a write: %d %q, want 201 and the version", status, body)
	}
	if writes() != before+1 {
		t.Fatalf("the volume holds %d writes, want %d", writes(), before+1)
	}
	h := r.Host(f.LiveInstance)
	h.Freeze()
	if status, body := post(); status != http.StatusServiceUnavailable || !strings.Contains(body, "frozen") {
		t.Errorf("a write to a frozen filesystem: %d %q, want 503", status, body)
	}
	h.Thaw()
	h.SetMaintenance(true)
	if status, _ := post(); status != http.StatusServiceUnavailable {
		t.Errorf("a write under maintenance: %d, want 503", status)
	}
	h.SetMaintenance(false)
	if writes() != before+1 {
		t.Errorf("refused writes were stored: %d, want %d", writes(), before+1)
	}
	if status, body, _, _ := get(r, "http://"+f.PublicIP+":8080"+WritePath); status != http.StatusNotFound {
		t.Errorf("GET %s: %d %q, want 404", WritePath, status, body)
	}
}
