// Package approvallink signs and verifies the approve and reject links in
// the approval e-mail, guards their form against cross-site posts, and
// renders the pages the links show.
//
// Mail scanners fetch every link in a message before a human does, so a GET
// only ever shows a confirm page; only the POST from that page answers the
// approval. A link is a bearer credential until its deadline: this package
// proves it was issued by greenlight and is unchanged and unexpired, but it
// keeps no state, so making a link work once is the ledger's job. The
// signing key lives in a secret store; nothing here logs it or puts it, or a
// signature, in an error.
package approvallink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The two answers a link can give.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Link is what a link grants: answering one release's approval one way, until Expires.
type Link struct {
	App       string
	ReleaseID string
	Action    string    // Approve or Reject
	Expires   time.Time // the approval deadline; links carry it in whole Unix seconds
}

// Parse's errors wrap exactly one of these, so the handler can pick the
// status and the page with errors.Is.
var (
	ErrMalformed = errors.New("approvallink: malformed link")
	ErrTampered  = errors.New("approvallink: the link's signature does not verify")
	ErrExpired   = errors.New("approvallink: the link has expired")
)

// errNoKey is returned for an empty key: a deployment fault, not a forged
// link, so it wraps none of the sentinels.
var errNoKey = errors.New("approvallink: the signing key is missing")

// The query parameters of a link.
const (
	paramApp     = "app"
	paramRelease = "release"
	paramAction  = "action"
	paramExp     = "exp"
	paramSig     = "sig"
)

// Domain-separation prefixes: a link signature can never pass as a form
// token's MAC or the other way round, and v1 leaves room for a change.
const (
	linkDomain = "greenlight-approval-link/v1\n"
	formDomain = "greenlight-approval-form/v1\n"
)

// URL builds the link: base, then the query app, release, action, exp (Unix
// seconds) and sig. If base already has a query the link's parameters are
// appended to it. URL never fails; with an empty key it still builds a URL,
// but Parse refuses every link when its key is empty.
func URL(key []byte, base string, l Link) string {
	q := url.Values{}
	q.Set(paramApp, l.App)
	q.Set(paramRelease, l.ReleaseID)
	q.Set(paramAction, l.Action)
	q.Set(paramExp, strconv.FormatInt(l.Expires.Unix(), 10))
	q.Set(paramSig, Sig(key, l))
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode()
}

// Sig returns the link's signature as URL puts it in the query (used to
// bind the form token to one link).
func Sig(key []byte, l Link) string {
	return sign(key, l.App, l.ReleaseID, l.Action, strconv.FormatInt(l.Expires.Unix(), 10))
}

func sign(key []byte, app, release, action, exp string) string {
	return mac(key, linkDomain+app+"\n"+release+"\n"+action+"\n"+exp)
}

func mac(key []byte, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Parse verifies a link's query (from a GET or POST). It checks the shape
// first, then the signature, then the deadline (now >= Expires is expired),
// so a changed expired link reports ErrTampered. Parameters other than the
// link's own are ignored. On ErrExpired the link is returned too: it is
// genuine, and the refusal page can name its release. On any other error
// the Link is zero.
func Parse(key []byte, q url.Values, now time.Time) (Link, error) {
	if len(key) == 0 {
		return Link{}, errNoKey
	}
	var f [5]string
	for i, name := range []string{paramApp, paramRelease, paramAction, paramExp, paramSig} {
		vs := q[name]
		switch {
		case len(vs) == 0 || vs[0] == "":
			return Link{}, fmt.Errorf("%w: the %s parameter is missing", ErrMalformed, name)
		case len(vs) > 1:
			// Which copy would the handler act on? Refuse rather than guess.
			return Link{}, fmt.Errorf("%w: the %s parameter is given %d times", ErrMalformed, name, len(vs))
		}
		f[i] = vs[0]
	}
	app, release, action, exp, sig := f[0], f[1], f[2], f[3], f[4]
	// The canonical string separates fields with newlines; with no control
	// characters in app and release, no two links share one.
	for _, p := range [][2]string{{paramApp, app}, {paramRelease, release}} {
		if strings.ContainsFunc(p[1], unicode.IsControl) {
			return Link{}, fmt.Errorf("%w: the %s parameter has a control character", ErrMalformed, p[0])
		}
	}
	if action != Approve && action != Reject {
		return Link{}, fmt.Errorf("%w: the action parameter is %q, want %q or %q", ErrMalformed, action, Approve, Reject)
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	// Only the canonical spelling (no sign, no leading zeros) is accepted, so
	// one deadline has exactly one signed form.
	if err != nil || secs <= 0 || strconv.FormatInt(secs, 10) != exp {
		return Link{}, fmt.Errorf("%w: the exp parameter is not a Unix time in seconds", ErrMalformed)
	}
	// Compare the encoded strings: decoding would ignore the spare bits of
	// the last character and let two spellings of one signature both pass.
	if !hmac.Equal([]byte(sig), []byte(sign(key, app, release, action, exp))) {
		return Link{}, ErrTampered
	}
	l := Link{App: app, ReleaseID: release, Action: action, Expires: time.Unix(secs, 0).UTC()}
	if !now.Before(l.Expires) {
		return l, fmt.Errorf("%w: the deadline was %s", ErrExpired, l.Expires.Format(time.RFC1123))
	}
	return l, nil
}
