//go:build harness

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/localenv"
	"github.com/greenlight/greenlight/internal/release"
)

// TestServe drives an account that stays up (`greenlight local --serve`)
// with the commands an operator would type: a release started by a plain
// S3 upload, a second by `greenlight release --local`, a rollback to the
// first, the history of all three, and the kept side retired once the
// clock is moved past retentionDays.
func TestServe(t *testing.T) {
	t.Setenv(localrun.EndpointsEnv, filepath.Join(t.TempDir(), "local.json"))
	t.Setenv("USER", "tester")
	o := &operator{t: t}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	served := make(chan result, 1)
	log := &syncBuffer{}
	go func() {
		var out bytes.Buffer
		code := execute(ctx, []string{"local", "--serve", "--approve", "auto"}, strings.NewReader(""), &out, log)
		log.end()
		served <- result{code: code, stdout: out.String(), stderr: log.String()}
	}()
	o.awaitOutput(log, "the simulated account is up")
	ep, err := localenv.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !ep.DeliversUploads {
		t.Fatal("the endpoints file does not say uploads start releases")
	}
	// The app answers where the output says, as users reach it.
	contains(t, "the serve output", log.String(), "browse   "+ep.AppURL)
	if v := appVersion(t, ep.AppURL); v != "1.0.0" {
		t.Fatalf("the app at %s serves %q, want the live 1.0.0", ep.AppURL, v)
	}

	// Before anything: the simulated account is healthy.
	r := o.expect(0, "doctor", "--local")
	contains(t, "doctor --local", r.stdout, "PASS  front", "PASS  ssm-agent", "0 failed")
	o.expect(exitUsage, "doctor", "--local", "--stack", "greenlight-shop")

	// 1. Any S3 client: the SDK with its defaults (checksums and all),
	// no greenlight metadata.
	client := s3.New(s3.Options{
		Region: ep.Region, BaseEndpoint: aws.String(ep.S3), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	body, err := artifact.Sample("shop", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	key := ep.ArtifactPrefix + "shop-1.1.0.tar.gz"
	put, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(ep.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("upload with the S3 SDK: %v", err)
	}
	first := release.ReleaseID("shop", "1.1.0", ep.Bucket, key, aws.ToString(put.VersionId))
	o.awaitOutput(log, "release "+first+" started")
	o.expect(0, "status", first, "--local", "--watch")
	if v := appVersion(t, ep.AppURL); v != "1.1.0" {
		t.Errorf("after the first release the app serves %q, want 1.1.0", v)
	}

	// An object outside the rule's pattern starts nothing.
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(ep.Bucket), Key: aws.String("notes/readme.txt"), Body: strings.NewReader("hi")}); err != nil {
		t.Fatal(err)
	}

	// 2. greenlight release: it only uploads; the upload starts it.
	r = o.expect(0, "release", "--local", sample(t, t.TempDir(), "1.2.0"), "--wait")
	contains(t, "release", r.stdout, "starts as S3 reports the upload")
	m := regexp.MustCompile(`release (shop-1-2-0-[0-9a-f]{10}) starts`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("release printed no id:\n%s", r)
	}
	second := m[1]
	if n := strings.Count(log.String(), "release "+second+" started"); n != 1 {
		t.Errorf("the upload of 1.2.0 started %d releases:\n%s", n, log)
	}
	if v := appVersion(t, ep.AppURL); v != "1.2.0" {
		t.Errorf("after the second release the app serves %q, want 1.2.0", v)
	}

	// 3. Back to the first.
	o.expect(0, "rollback", "--local", "--to", first, "--reason", "1.2.0 misbehaves", "--wait")
	serving := o.status("").Serving
	if serving == nil || serving.LiveRelease != first || len(serving.PreviousInstances) == 0 {
		t.Fatalf("after the rollback, serving is %+v", serving)
	}
	kept := serving.PreviousInstances
	if v := appVersion(t, ep.AppURL); v != "1.1.0" {
		t.Errorf("after the rollback the app serves %q, want 1.1.0 again", v)
	}

	// 4. History: both releases and the rollback.
	var hist struct {
		Releases []historyRow `json:"releases"`
	}
	if err := json.Unmarshal([]byte(o.expect(0, "history", "--local", "--json").stdout), &hist); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hist.Releases {
		ids = append(ids, h.ReleaseID+" "+h.Status)
	}
	if len(ids) != 3 || !strings.Contains(strings.Join(ids, ","), first) || !strings.Contains(strings.Join(ids, ","), second) {
		t.Fatalf("history lists %v, want both releases and the rollback", ids)
	}

	// 5. Time: nothing is retired before retentionDays, the kept side is
	// after.
	r = o.expect(0, "local", "advance", "1d")
	contains(t, "advance 1d", r.stdout, "no schedule came due")
	var adv localrun.Advanced
	if err := json.Unmarshal([]byte(o.expect(0, "local", "advance", "8d", "--json").stdout), &adv); err != nil {
		t.Fatal(err)
	}
	retired := false
	for _, f := range adv.Fired {
		for _, id := range kept {
			retired = retired || (f.Target == "retire" && strings.Contains(f.Result, id))
		}
	}
	if !retired {
		t.Fatalf("moving the clock 9 days did not retire %v: %+v", kept, adv.Fired)
	}
	if s := o.status("").Serving; s == nil || len(s.PreviousInstances) != 0 {
		t.Errorf("after retirement, serving still keeps %+v", s)
	}
	r = o.run("rollback", "--local")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing to roll back to") {
		t.Errorf("rollback after retirement: %s", r)
	}

	// Interrupted, it stops cleanly and exits 0.
	interrupt()
	end := receive(t, served, "local --serve")
	if end.code != 0 {
		t.Fatalf("local --serve exited %d:\n%s", end.code, end.stderr)
	}
	if _, err := localenv.Read(); err == nil {
		t.Error("the endpoints file outlived the environment")
	}
}

// appVersion asks the app its version through the front users reach.
func appVersion(t *testing.T, url string) string {
	t.Helper()
	if url == "" {
		t.Fatal("no app URL in the endpoints file")
	}
	resp, err := http.Get(url + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}
