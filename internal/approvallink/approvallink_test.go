package approvallink

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const base = "https://abc.lambda-url.eu-west-1.on.aws/"

var (
	key      = []byte("test key: 32 bytes of not-secret")
	otherKey = []byte("another key, just as not-secret!")
	started  = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	// deadline has a fraction of a second, which links drop.
	deadline = started.Add(24*time.Hour + 750*time.Millisecond)
	before   = started.Add(time.Hour)
)

func link(action string) Link {
	return Link{App: "shop", ReleaseID: "shop-1.4.0-0a1b2c3d4e", Action: action, Expires: deadline}
}

// query is the query of URL's link.
func query(t *testing.T, k []byte, l Link) url.Values {
	t.Helper()
	u, err := url.Parse(URL(k, base, l))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestRoundTrip(t *testing.T) {
	for _, action := range []string{Approve, Reject} {
		l := link(action)
		got, err := Parse(key, query(t, key, l), before)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		want := l
		want.Expires = deadline.Truncate(time.Second)
		if got != want || got.Expires.Location() != time.UTC {
			t.Errorf("%s: got %+v, want %+v", action, got, want)
		}
		if got.Expires.Equal(deadline) {
			t.Errorf("%s: Expires kept its fraction of a second", action)
		}
	}
}

func TestURLShape(t *testing.T) {
	l := link(Approve)
	u := URL(key, base, l)
	if !strings.HasPrefix(u, base+"?") {
		t.Errorf("URL %q does not start with %q", u, base+"?")
	}
	q := query(t, key, l)
	for name, want := range map[string]string{
		"app": "shop", "release": "shop-1.4.0-0a1b2c3d4e", "action": "approve",
		"exp": strconv.FormatInt(deadline.Unix(), 10), "sig": Sig(key, l),
	} {
		if got := q.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if len(q) != 5 {
		t.Errorf("query has %d parameters, want 5: %v", len(q), q)
	}
	// A base with a query of its own keeps it and gains the link's.
	u = URL(key, "http://127.0.0.1:4567/approval?x=1", l)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pu.Query().Get("x") != "1" || pu.Query().Get("sig") != Sig(key, l) {
		t.Errorf("URL with a base query: %q", u)
	}
	if _, err := Parse(key, pu.Query(), before); err != nil {
		t.Errorf("URL with a base query does not parse: %v", err)
	}
}

func TestSigDependsOnEveryField(t *testing.T) {
	l := link(Approve)
	changed := []Link{
		{App: "shop2", ReleaseID: l.ReleaseID, Action: l.Action, Expires: l.Expires},
		{App: l.App, ReleaseID: l.ReleaseID + "x", Action: l.Action, Expires: l.Expires},
		{App: l.App, ReleaseID: l.ReleaseID, Action: Reject, Expires: l.Expires},
		{App: l.App, ReleaseID: l.ReleaseID, Action: l.Action, Expires: l.Expires.Add(time.Second)},
	}
	for _, c := range changed {
		if Sig(key, c) == Sig(key, l) {
			t.Errorf("%+v signs like %+v", c, l)
		}
	}
	if Sig(otherKey, l) == Sig(key, l) {
		t.Error("two keys give one signature")
	}
	// Fractions of a second are not part of a link.
	same := l
	same.Expires = l.Expires.Truncate(time.Second)
	if Sig(key, same) != Sig(key, l) {
		t.Error("the signature depends on the fraction of a second")
	}
}

// replacements are the characters each position is changed to: every one
// of base64url's alphabet, and a few from outside it.
const replacements = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. %\x00"

func TestEveryChangedSigCharacterIsTampered(t *testing.T) {
	l := link(Approve)
	q := query(t, key, l)
	sig := q.Get("sig")
	if len(sig) != 43 {
		t.Fatalf("sig has %d characters, want 43 (32 bytes, unpadded)", len(sig))
	}
	for i := range len(sig) {
		for _, r := range replacements {
			if byte(r) == sig[i] {
				continue
			}
			bad := cloneQuery(q)
			bad.Set("sig", sig[:i]+string(r)+sig[i+1:])
			_, err := Parse(key, bad, before)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("sig[%d] changed to %q: err = %v, want ErrTampered", i, r, err)
			}
		}
	}
	// Shorter and longer signatures.
	for _, s := range []string{sig[:42], sig + "A", sig[1:], "A" + sig} {
		bad := cloneQuery(q)
		bad.Set("sig", s)
		if _, err := Parse(key, bad, before); !errors.Is(err, ErrTampered) {
			t.Errorf("sig %q: err = %v, want ErrTampered", s, err)
		}
	}
}

func TestEveryChangedFieldCharacterIsRefused(t *testing.T) {
	for _, action := range []string{Approve, Reject} {
		q := query(t, key, link(action))
		for _, name := range []string{"app", "release", "action", "exp"} {
			v := q.Get(name)
			for i := range len(v) {
				for _, r := range replacements {
					if byte(r) == v[i] {
						continue
					}
					bad := cloneQuery(q)
					changed := v[:i] + string(r) + v[i+1:]
					bad.Set(name, changed)
					_, err := Parse(key, bad, before)
					if err == nil {
						t.Fatalf("%s %q accepted", name, changed)
					}
					want := ErrTampered
					switch {
					case name == "action":
						want = ErrMalformed // an unknown action
					case name == "exp" && (r < '0' || r > '9' || (i == 0 && r == '0')):
						want = ErrMalformed // not a canonical number
					case (name == "app" || name == "release") && r == 0:
						want = ErrMalformed // a control character
					}
					if !errors.Is(err, want) {
						t.Fatalf("%s %q: err = %v, want %v", name, changed, err, want)
					}
				}
			}
			// Appended and dropped characters too.
			for _, changed := range []string{v + "x", v + "0", v[1:], "0" + v} {
				bad := cloneQuery(q)
				bad.Set(name, changed)
				if _, err := Parse(key, bad, before); !errors.Is(err, ErrTampered) && !errors.Is(err, ErrMalformed) {
					t.Errorf("%s %q: err = %v, want ErrTampered or ErrMalformed", name, changed, err)
				}
			}
		}
	}
}

func TestSwappedActionIsTampered(t *testing.T) {
	// The easiest forgery: an approve link edited into a reject link.
	q := query(t, key, link(Approve))
	q.Set("action", Reject)
	if _, err := Parse(key, q, before); !errors.Is(err, ErrTampered) {
		t.Errorf("err = %v, want ErrTampered", err)
	}
}

func TestOtherKeyIsTampered(t *testing.T) {
	q := query(t, otherKey, link(Approve))
	if _, err := Parse(key, q, before); !errors.Is(err, ErrTampered) {
		t.Errorf("err = %v, want ErrTampered", err)
	}
}

func TestExpired(t *testing.T) {
	l := link(Reject)
	exp := deadline.Truncate(time.Second)
	q := query(t, key, l)
	if _, err := Parse(key, q, exp.Add(-time.Nanosecond)); err != nil {
		t.Errorf("a nanosecond before the deadline: %v", err)
	}
	for _, now := range []time.Time{exp, exp.Add(time.Nanosecond), exp.Add(time.Hour), exp.Add(365 * 24 * time.Hour)} {
		got, err := Parse(key, q, now)
		if !errors.Is(err, ErrExpired) {
			t.Errorf("at %s: err = %v, want ErrExpired", now, err)
		}
		if errors.Is(err, ErrTampered) || errors.Is(err, ErrMalformed) {
			t.Errorf("at %s: %v is more than expired", now, err)
		}
		// The link is genuine, so the refusal page may name its release.
		if got.ReleaseID != l.ReleaseID || got.Action != l.Action {
			t.Errorf("at %s: link %+v, want the expired link", now, got)
		}
	}
}

func TestTamperedAndExpiredIsTampered(t *testing.T) {
	q := query(t, key, link(Approve))
	after := deadline.Add(time.Hour)
	// Pushing the deadline back is the forgery an expired link invites.
	q.Set("exp", strconv.FormatInt(after.Add(time.Hour).Unix(), 10))
	if _, err := Parse(key, q, after.Add(2*time.Hour)); !errors.Is(err, ErrTampered) {
		t.Errorf("extended deadline, read after it: err = %v, want ErrTampered", err)
	}
	q = query(t, key, link(Approve))
	q.Set("release", "shop-1.3.9-ffffffffff")
	got, err := Parse(key, q, after)
	if !errors.Is(err, ErrTampered) {
		t.Errorf("changed release, expired: err = %v, want ErrTampered", err)
	}
	if got != (Link{}) {
		t.Errorf("a tampered link came back: %+v", got)
	}
}

func TestMissingFields(t *testing.T) {
	for _, name := range []string{"app", "release", "action", "exp", "sig"} {
		for _, how := range []string{"absent", "empty"} {
			q := query(t, key, link(Approve))
			if how == "absent" {
				q.Del(name)
			} else {
				q.Set(name, "")
			}
			got, err := Parse(key, q, before)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s %s: err = %v, want ErrMalformed", name, how, err)
			}
			if !strings.Contains(err.Error(), "the "+name+" parameter") {
				t.Errorf("%s %s: error %q does not name the field", name, how, err)
			}
			if got != (Link{}) {
				t.Errorf("%s %s: link %+v, want none", name, how, got)
			}
		}
	}
	if _, err := Parse(key, nil, before); !errors.Is(err, ErrMalformed) {
		t.Errorf("no query: err = %v, want ErrMalformed", err)
	}
}

func TestMalformedFields(t *testing.T) {
	exp := strconv.FormatInt(deadline.Unix(), 10)
	for _, c := range []struct {
		name, value, field string
	}{
		{"action", "APPROVE", "action"},
		{"action", "approved", "action"},
		{"action", "delete", "action"},
		{"exp", "soon", "exp"},
		{"exp", "+" + exp, "exp"},
		{"exp", "0" + exp, "exp"},
		{"exp", "-" + exp, "exp"},
		{"exp", "0", "exp"},
		{"exp", exp + ".5", "exp"},
		{"exp", "99999999999999999999", "exp"},
		{"app", "shop\nrelease", "app"},
		{"release", "shop-1.4.0\r", "release"},
	} {
		q := query(t, key, link(Approve))
		q.Set(c.name, c.value)
		_, err := Parse(key, q, before)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s %q: err = %v, want ErrMalformed", c.name, c.value, err)
			continue
		}
		if !strings.Contains(err.Error(), "the "+c.field+" parameter") {
			t.Errorf("%s %q: error %q does not name the field", c.name, c.value, err)
		}
	}
}

func TestRepeatedFieldIsMalformed(t *testing.T) {
	for _, name := range []string{"app", "release", "action", "exp", "sig"} {
		q := query(t, key, link(Approve))
		q.Add(name, q.Get(name))
		if _, err := Parse(key, q, before); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s twice: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestMalformedBeforeTampered(t *testing.T) {
	// A bad signature and a missing field: the shape is reported first.
	q := query(t, key, link(Approve))
	q.Set("sig", "nonsense")
	q.Del("release")
	if _, err := Parse(key, q, before); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

func TestUnknownParametersIgnored(t *testing.T) {
	// The handler may hand Parse the POST's form merged with the query.
	q := query(t, key, link(Reject))
	q.Set("form", "token")
	q.Set("reason", "the checkout is broken")
	if _, err := Parse(key, q, before); err != nil {
		t.Error(err)
	}
}

func TestEmptyKeyRefused(t *testing.T) {
	for _, k := range [][]byte{nil, {}} {
		// Even a link "signed" with the empty key.
		q := query(t, k, link(Approve))
		_, err := Parse(k, q, before)
		if err == nil {
			t.Fatal("an empty key verified a link")
		}
		if errors.Is(err, ErrTampered) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrExpired) {
			t.Errorf("err = %v, want none of the link errors", err)
		}
		if !strings.Contains(err.Error(), "signing key is missing") {
			t.Errorf("err = %q, want it to say the signing key is missing", err)
		}
	}
}

func TestErrorsKeepSecrets(t *testing.T) {
	l := link(Approve)
	sig := Sig(key, l)
	var errs []error
	q := query(t, key, l)
	q.Set("action", Reject)
	_, err := Parse(key, q, before)
	errs = append(errs, err)
	q = query(t, key, l)
	_, err = Parse(key, q, deadline.Add(time.Hour))
	errs = append(errs, err)
	q = query(t, key, l)
	q.Set("exp", "x"+sig)
	_, err = Parse(key, q, before)
	errs = append(errs, err)
	q = query(t, key, l)
	q.Set("sig", sig[:40])
	_, err = Parse(key, q, before)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), sig[:20]) || strings.Contains(err.Error(), string(key)) {
			t.Errorf("error %q carries the signature or the key", err)
		}
	}
}

func cloneQuery(q url.Values) url.Values {
	c := url.Values{}
	for k, vs := range q {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func TestFormToken(t *testing.T) {
	l := link(Approve)
	tok, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFormToken(key, l, tok, tok); err != nil {
		t.Errorf("a fresh token: %v", err)
	}
	// The link as Parse returns it (the deadline in whole seconds) is the same link.
	parsed, err := Parse(key, query(t, key, l), before)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFormToken(key, parsed, tok, tok); err != nil {
		t.Errorf("the parsed link: %v", err)
	}
	again, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	if again == tok {
		t.Error("two tokens for one link are equal: the nonce is not random")
	}
	nonce, _, _ := strings.Cut(tok, ".")
	if len(nonce) != 22 {
		t.Errorf("nonce %q has %d characters, want 22 (16 bytes)", nonce, len(nonce))
	}
	if strings.Contains(tok, Sig(key, l)) {
		t.Error("the token carries the link's signature")
	}
	if _, err := NewFormToken(nil, l); err == nil {
		t.Error("NewFormToken with no key")
	}
}

func TestFormTokenRefused(t *testing.T) {
	l := link(Reject)
	tok, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	approve, err := NewFormToken(key, link(Approve))
	if err != nil {
		t.Fatal(err)
	}
	laterLink := l
	laterLink.Expires = l.Expires.Add(time.Hour)
	later, err := NewFormToken(key, laterLink)
	if err != nil {
		t.Fatal(err)
	}
	otherRelease := l
	otherRelease.ReleaseID = "shop-1.4.1-ffffffffff"
	elsewhere, err := NewFormToken(key, otherRelease)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewFormToken(otherKey, l)
	if err != nil {
		t.Fatal(err)
	}
	nonce, sum, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for _, c := range []struct{ name, cookie, field string }{
		{"cookie differs from field", tok, other},
		{"field differs from cookie", other, tok},
		{"no cookie", "", tok},
		{"no field", tok, ""},
		{"neither", "", ""},
		{"the other action's token", approve, approve},
		{"another deadline's token", later, later},
		{"another release's token", elsewhere, elsewhere},
		{"another key's token", foreign, foreign},
		{"nonce changed", flip(nonce, 0) + "." + sum, flip(nonce, 0) + "." + sum},
		{"nonce's last character changed", flip(nonce, 21) + "." + sum, flip(nonce, 21) + "." + sum},
		{"MAC changed", nonce + "." + flip(sum, 5), nonce + "." + flip(sum, 5)},
		{"MAC only", sum, sum},
		{"no MAC", nonce + ".", nonce + "."},
		{"short nonce", nonce[:8] + "." + formMAC(key, l, nonce[:8]), nonce[:8] + "." + formMAC(key, l, nonce[:8])},
		{"empty nonce", "." + formMAC(key, l, ""), "." + formMAC(key, l, "")},
		{"the link signature", Sig(key, l), Sig(key, l)},
	} {
		if err := CheckFormToken(key, l, c.cookie, c.field); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else if strings.Contains(err.Error(), sum) || strings.Contains(err.Error(), nonce) {
			t.Errorf("%s: error %q carries the token", c.name, err)
		}
	}
	if err := CheckFormToken(nil, l, tok, tok); err == nil || !strings.Contains(err.Error(), "signing key is missing") {
		t.Errorf("no key: err = %v", err)
	}
}

func TestCookie(t *testing.T) {
	l := link(Approve)
	tok, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	exp := deadline.Truncate(time.Second) // where the link ends
	now := exp.Add(-2*time.Hour - 30*time.Second - 500*time.Millisecond)
	for _, c := range []struct {
		secure bool
		want   string
	}{
		{true, "__Host-greenlight-form=" + tok + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=7231; Secure"},
		{false, "greenlight-form=" + tok + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=7231"},
	} {
		got := Cookie(c.secure, tok, l, now)
		if got != c.want {
			t.Errorf("secure=%v:\n got %q\nwant %q", c.secure, got, c.want)
		}
		if !strings.HasPrefix(got, CookieName(c.secure)+"=") {
			t.Errorf("secure=%v: %q is not named %q", c.secure, got, CookieName(c.secure))
		}
		if strings.Contains(strings.ToLower(got), "domain") {
			t.Errorf("secure=%v: %q has a Domain, which __Host- forbids", c.secure, got)
		}
	}
	if CookieName(true) != "__Host-greenlight-form" || CookieName(false) != "greenlight-form" {
		t.Errorf("CookieName: %q, %q", CookieName(true), CookieName(false))
	}
	// The cookie outlives the page by at least a minute, even at or past the deadline.
	for _, now := range []time.Time{exp.Add(-10 * time.Second), exp, deadline, exp.Add(time.Hour)} {
		if got := Cookie(false, tok, l, now); !strings.HasSuffix(got, "; Max-Age=60") {
			t.Errorf("at %s: %q, want Max-Age=60", now, got)
		}
	}
	if got := Cookie(false, tok, l, exp.Add(-61*time.Second-time.Millisecond)); !strings.HasSuffix(got, "; Max-Age=62") {
		t.Errorf("61.001s before the deadline: %q, want Max-Age=62 (rounded up)", got)
	}
	// A token cannot smuggle attributes into the header.
	got := Cookie(true, "abc; Domain=evil.example; Max-Age=99999\r\nX: \"y\"\\", l, now)
	if want := "__Host-greenlight-form=abcDomain=evil.exampleMax-Age=99999X:y; Path=/; HttpOnly; SameSite=Strict; Max-Age=7231; Secure"; got != want {
		t.Errorf("hostile token:\n got %q\nwant %q", got, want)
	}
}

func confirm(t *testing.T, action string) Confirm {
	t.Helper()
	l := link(action)
	l.Expires = deadline.Truncate(time.Second) // as Parse returns it
	tok, err := NewFormToken(key, l)
	if err != nil {
		t.Fatal(err)
	}
	return Confirm{
		Link: l, Version: "1.4.0", UploadedBy: "arn:aws:iam::123456789012:user/alice", StartedAt: started,
		Candidates: []Candidate{{InstanceID: "i-0cand000000000002", Zone: "eu-west-1a", Address: "10.0.1.20:8080"}},
		Smoke: &Smoke{Target: "http://10.0.1.20:8080", Passed: false, Checks: []Check{
			{Name: "health", URL: "http://10.0.1.20:8080/healthz", Status: 200, LatencyMS: 3, Passed: true},
			{Name: "home page", URL: "http://10.0.1.20:8080/", Status: 500, LatencyMS: 41, Problem: "status 500, want 200"},
		}},
		Now:       deadline.Truncate(time.Second).Add(-3*time.Hour - 12*time.Minute - 5*time.Second),
		FormToken: tok,
		PostURL:   URL(key, base, l),
	}
}

// page takes a page function's results: page(t)(ConfirmPage(p)).
func page(t *testing.T) func([]byte, error) string {
	return func(b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

var tags = regexp.MustCompile(`<[^>]*>`)

// visible is the page's text with the tags (and their attributes) removed.
func visible(html string) string { return tags.ReplaceAllString(html, " ") }

func mustContain(t *testing.T, html string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(html, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t *testing.T, html string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(html, b) {
			t.Errorf("page has %q", b)
		}
	}
}

func TestConfirmPage(t *testing.T) {
	for _, action := range []string{Approve, Reject} {
		t.Run(action, func(t *testing.T) {
			p := confirm(t, action)
			html := page(t)(ConfirmPage(p))
			mustContain(t, html,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<meta name="referrer" content="no-referrer">`,
				`<span class="brand">greenlight</span>`,
				"<dd>shop</dd>", "<dd>1.4.0</dd>", "shop-1.4.0-0a1b2c3d4e",
				"arn:aws:iam::123456789012:user/alice",
				"2026-03-02 10:15 UTC", // started
				"2026-03-03 10:15 UTC (3h 12m left)",
				`<a href="http://10.0.1.20:8080" rel="noreferrer noopener">10.0.1.20:8080</a>`,
				"i-0cand000000000002", "eu-west-1a",
				">health<", ">home page<", "http://10.0.1.20:8080/healthz", ">500<", ">41<", "status 500, want 200", "✓", "✗",
				`<form class="card" method="post" action="`,
				`<input type="hidden" name="form" value="`+p.FormToken+`">`,
				`id="answer"`,
				"Nothing happens until you press the button. This link works once and expires at 2026-03-03 10:15 UTC.",
			)
			mustNotContain(t, html, "<script", "<link", " src=", "@import", "No smoke tests ran")
			if n := strings.Count(html, "<form"); n != 1 {
				t.Errorf("%d forms, want 1", n)
			}
			// The token is in the hidden input and nowhere else.
			if n := strings.Count(html, p.FormToken); n != 1 {
				t.Errorf("the form token appears %d times, want once", n)
			}
			// The signature is in the form's action only, never in the text.
			sig := Sig(key, p.Link)
			if n := strings.Count(html, sig); n != 1 {
				t.Errorf("the signature appears %d times, want once (the form's action)", n)
			}
			if !strings.Contains(html, `action="`+strings.ReplaceAll(p.PostURL, "&", "&amp;")+`"`) {
				t.Errorf("the form's action is not the link URL %q", p.PostURL)
			}
			mustNotContain(t, visible(html), sig, p.FormToken, string(key))

			verb, other := "Approve", "Reject"
			if action == Reject {
				verb, other = other, verb
			}
			mustContain(t, html,
				"<title>"+verb+" shop 1.4.0 — greenlight</title>",
				`<button id="answer" type="submit" class="`+action+`">`+verb+` release</button>`)
			mustNotContain(t, html, other+" release")
			if action == Reject {
				mustContain(t, html,
					`<label for="reason">Why are you rejecting it?</label>`,
					`<textarea id="reason" name="reason" required maxlength="500"></textarea>`)
			} else {
				mustNotContain(t, html, "<textarea", `name="reason"`, "Why are you rejecting it?")
			}
		})
	}
}

func TestConfirmPageFleet(t *testing.T) {
	p := confirm(t, Approve)
	p.Candidates = []Candidate{
		{InstanceID: "i-0cand000000000002", Zone: "eu-west-1a", Address: "10.0.1.20:8080"},
		{InstanceID: "i-0cand000000000004", Zone: "eu-west-1b", Address: "http://10.0.2.40:8080/"},
		{InstanceID: "i-0cand000000000006", Zone: "eu-west-1c"},
	}
	p.Smoke = &Smoke{Target: "3 candidates", Passed: true, Instances: []SmokeInstance{
		{InstanceID: "i-0cand000000000002", Zone: "eu-west-1a", Target: "http://10.0.1.20:8080", Passed: true, Checks: []Check{{Name: "health a", Status: 200, LatencyMS: 3, Passed: true}}},
		{InstanceID: "i-0cand000000000004", Zone: "eu-west-1b", Target: "http://10.0.2.40:8080", Passed: true, Checks: []Check{{Name: "health b", Status: 200, LatencyMS: 4, Passed: true}}},
		{InstanceID: "i-0cand000000000006", Zone: "eu-west-1c", Target: "http://10.0.3.60:8080", Passed: false, Checks: []Check{{Name: "health c", LatencyMS: 5000, Problem: "timed out"}}},
	}}
	html := page(t)(ConfirmPage(p))
	mustContain(t, html,
		"Try the candidates",
		`<a href="http://10.0.1.20:8080" rel="noreferrer noopener">`,
		`<a href="http://10.0.2.40:8080/" rel="noreferrer noopener">`,
		"no address · <code>i-0cand000000000006</code> in eu-west-1c",
		"against 3 candidates",
		"health a", "health b", "health c", "timed out", "http://10.0.3.60:8080",
		"<code>i-0cand000000000006</code> in eu-west-1c · <span class=\"bad\">✗ failed</span>",
		`<td class="num" data-label="Status">—</td>`, // no response
	)
	if n := strings.Count(html, "<table>"); n != 3 {
		t.Errorf("%d tables, want one per instance (3)", n)
	}
}

func TestConfirmPageDefaults(t *testing.T) {
	p := confirm(t, Reject)
	p.UploadedBy, p.Smoke, p.Candidates, p.PostURL = "", nil, nil, ""
	p.StartedAt = time.Time{}
	html := page(t)(ConfirmPage(p))
	mustContain(t, html,
		"unknown (the artifact carries no uploader)",
		"No smoke tests ran.",
		"No candidate was recorded.",
		"<dt>Started</dt><dd>unknown</dd>",
		// No action: the browser posts back to the link it is on.
		`<form class="card" method="post">`)
	mustNotContain(t, html, "<table")
}

func TestConfirmPageRefusesBrokenForms(t *testing.T) {
	p := confirm(t, "delete")
	if _, err := ConfirmPage(p); err == nil {
		t.Error("an unknown action rendered")
	}
	p = confirm(t, Approve)
	p.FormToken = ""
	if _, err := ConfirmPage(p); err == nil {
		t.Error("a page without a form token rendered")
	}
}

func TestPagesEscape(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	p := confirm(t, Reject)
	p.Version = evil
	p.UploadedBy = evil
	p.Link.App = evil
	p.Candidates = []Candidate{{InstanceID: evil, Zone: evil, Address: `10.0.0.1"><script>alert(1)</script>`}}
	p.Smoke.Checks[0].Name, p.Smoke.Checks[0].Problem, p.Smoke.Checks[0].URL = evil, evil, evil
	p.FormToken = `"><script>alert(1)</script>`
	html := page(t)(ConfirmPage(p))
	o := page(t)(OutcomePage(Outcome{Link: p.Link, Version: evil, By: evil, Reason: evil, Follow: evil, At: started}))
	r := page(t)(RefusalPage(Refusal{Title: evil, Message: evil, Hint: evil}))
	for name, h := range map[string]string{"confirm": html, "outcome": o, "refusal": r} {
		if strings.Contains(strings.ToLower(h), "<script") {
			t.Errorf("%s page has a live <script>", name)
		}
		if !strings.Contains(h, "&lt;script&gt;") {
			t.Errorf("%s page lacks the escaped text", name)
		}
	}
	mustContain(t, html, "<title>Reject &lt;script&gt;")
}

func TestOutcomePage(t *testing.T) {
	l := link(Approve)
	at := time.Date(2026, 3, 2, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	html := page(t)(OutcomePage(Outcome{
		Link: l, Version: "1.4.0", Approved: true, By: "approval link from 203.0.113.7", At: at,
		Follow: "greenlight status shop-1.4.0-0a1b2c3d4e --watch",
	}))
	mustContain(t, html,
		"<title>Approved shop 1.4.0 — greenlight</title>",
		`<h1 id="outcome" class="ok">Approved</h1>`,
		"shop 1.4.0 was approved.",
		"Traffic moves to the candidate, then the public endpoint is verified.",
		"approval link from 203.0.113.7",
		"2026-03-02 11:30 UTC",
		"<code>greenlight status shop-1.4.0-0a1b2c3d4e --watch</code>",
		`<meta name="viewport" content="width=device-width, initial-scale=1">`)
	mustNotContain(t, html, "Rejected", "terminated", "<dt>Reason</dt>", "<form")

	l.Action = Reject
	html = page(t)(OutcomePage(Outcome{
		Link: l, Version: "1.4.0", By: "approval link from 203.0.113.7", At: at,
		Reason: "the checkout page is blank", Follow: "greenlight status shop-1.4.0-0a1b2c3d4e --watch",
	}))
	mustContain(t, html,
		"<title>Rejected shop 1.4.0 — greenlight</title>",
		`<h1 id="outcome" class="bad">Rejected</h1>`,
		"shop 1.4.0 was rejected.",
		"The candidate is terminated; the live side keeps serving.",
		"<dt>Reason</dt><dd>the checkout page is blank</dd>")
	mustNotContain(t, html, "Approved", "Traffic moves")

	html = page(t)(OutcomePage(Outcome{Link: Link{ReleaseID: "r-1", Action: Reject}}))
	mustContain(t, html, "The release was rejected.", "<dt>By</dt><dd>unknown</dd>")
	mustNotContain(t, html, "<pre>")
}

func TestRefusalPage(t *testing.T) {
	html := page(t)(RefusalPage(Refusal{
		Status: 410, Title: "This link has expired",
		Message: "The approval deadline passed at 2026-03-03 10:15 UTC. The release was stopped.",
		Hint:    "greenlight status shop-1.4.0-0a1b2c3d4e",
	}))
	mustContain(t, html,
		"<title>This link has expired — greenlight</title>",
		`<h1 id="refusal">This link has expired</h1>`,
		"<p>The approval deadline passed at 2026-03-03 10:15 UTC. The release was stopped.</p>",
		"<code>greenlight status shop-1.4.0-0a1b2c3d4e</code>",
		`<span class="brand">greenlight</span>`)
	mustNotContain(t, visible(html), "410")

	html = page(t)(RefusalPage(Refusal{Status: 400, Message: "The link is incomplete."}))
	mustContain(t, html, `<h1 id="refusal">This link cannot be used</h1>`, "The link is incomplete.")
	mustNotContain(t, html, "<code>", "instead")
}

func TestTimeLeft(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{3*time.Hour + 12*time.Minute, "3h 12m"},
		{3*time.Hour + 12*time.Minute + 59*time.Second, "3h 12m"},
		{24 * time.Hour, "24h 0m"},
		{72*time.Hour + time.Minute, "72h 1m"},
		{time.Hour, "1h 0m"},
		{time.Hour - time.Nanosecond, "59m"},
		{12*time.Minute + 30*time.Second, "12m"},
		{time.Minute, "1m"},
		{45 * time.Second, "45s"},
		{59*time.Second + 999*time.Millisecond, "59s"},
		{time.Second, "1s"},
		{time.Millisecond, "0s"},
		{0, "0s"},
		{-time.Hour, "0s"},
	} {
		if got := TimeLeft(c.d); got != c.want {
			t.Errorf("TimeLeft(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestKnownVectors pins the signed strings' formats to values computed
// outside Go, so a change to either breaks every link in flight loudly.
func TestKnownVectors(t *testing.T) {
	k := []byte("example key, never a real one")
	l := Link{App: "shop", ReleaseID: "shop-1.4.0-0a1b2c3d4e", Action: Reject, Expires: time.Unix(1772532900, 0)}
	const sig = "KNJKwWcoiyjLj_7CDm2jgUOmg60q4cPv4Oj-X7EiBZ8"
	if got := Sig(k, l); got != sig {
		t.Errorf("Sig = %q, want %q", got, sig)
	}
	const token = "AAECAwQFBgcICQoLDA0ODw.N9rmKIPeobNQJqIPYDzOHUnCapNOJdv6lTF-5iEbMWc" // nonce: bytes 0..15
	if err := CheckFormToken(k, l, token, token); err != nil {
		t.Errorf("known token refused: %v", err)
	}
}
