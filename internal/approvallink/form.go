package approvallink

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The confirm page's form is guarded by a signed double-submit cookie (the
// OWASP CSRF cheat sheet's "Signed Double-Submit Cookie"): the same token in
// a cookie and a hidden field, MACed with the link's signature so a token
// minted for one link cannot answer another.

const nonceBytes = 16

// NewFormToken returns a fresh token for l's confirm page: nonce "." MAC,
// both base64url.
func NewFormToken(key []byte, l Link) (string, error) {
	if len(key) == 0 {
		return "", errNoKey
	}
	b := make([]byte, nonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("approvallink: form token nonce: %w", err)
	}
	nonce := base64.RawURLEncoding.EncodeToString(b)
	return nonce + "." + formMAC(key, l, nonce), nil
}

func formMAC(key []byte, l Link, nonce string) string {
	return mac(key, formDomain+Sig(key, l)+"\n"+nonce)
}

// CheckFormToken accepts a POST for l only if the cookie and the form field
// are both present, equal, and a token NewFormToken made for l. Its errors
// say which of those failed and never carry the token.
func CheckFormToken(key []byte, l Link, cookie, field string) error {
	switch {
	case len(key) == 0:
		return errNoKey
	case cookie == "":
		return errors.New("approvallink: the form's cookie is missing (are cookies blocked?)")
	case field == "":
		return errors.New("approvallink: the form's token field is missing")
	case !hmac.Equal([]byte(cookie), []byte(field)):
		return errors.New("approvallink: the form's cookie and token field differ")
	}
	nonce, sum, ok := strings.Cut(field, ".")
	// The nonce must be exactly what NewFormToken makes: a short or reused
	// nonce would make the token guessable or replayable across pages.
	if b, err := base64.RawURLEncoding.Strict().DecodeString(nonce); !ok || err != nil || len(b) != nonceBytes {
		return errors.New("approvallink: the form token is malformed")
	}
	// Encoded strings again, so no second spelling of the MAC passes.
	if !hmac.Equal([]byte(sum), []byte(formMAC(key, l, nonce))) {
		return errors.New("approvallink: the form token was not made for this link")
	}
	return nil
}

// CookieName is the anti-forgery cookie's name. Over HTTPS it has the
// __Host- prefix, which browsers honour only with Secure, Path=/ and no
// Domain, so no sibling host can plant it; the local engine serves plain
// HTTP on loopback, where that prefix would be refused.
func CookieName(secure bool) string {
	if secure {
		return "__Host-greenlight-form"
	}
	return "greenlight-form"
}

// minCookieAge keeps a page opened just before the deadline able to post;
// Parse still refuses the link once it has expired.
const minCookieAge = 60

// Cookie renders the Set-Cookie value carrying token until l expires (at
// least a minute). Bytes a cookie value may not hold are dropped, so the
// token can never add attributes; such a token then fails CheckFormToken.
func Cookie(secure bool, token string, l Link, now time.Time) string {
	age := int64(minCookieAge)
	// The link dies at its whole second, so the cookie does too.
	expires := time.Unix(l.Expires.Unix(), 0)
	if secs := math.Ceil(expires.Sub(now).Seconds()); secs > minCookieAge {
		age = int64(secs)
	}
	var b strings.Builder
	b.WriteString(CookieName(secure))
	b.WriteByte('=')
	for i := range len(token) {
		if validCookieByte(token[i]) {
			b.WriteByte(token[i])
		}
	}
	b.WriteString("; Path=/; HttpOnly; SameSite=Strict; Max-Age=")
	b.WriteString(strconv.FormatInt(age, 10))
	if secure {
		b.WriteString("; Secure")
	}
	return b.String()
}

// validCookieByte is RFC 6265's cookie-octet.
func validCookieByte(c byte) bool {
	return c == 0x21 || (0x23 <= c && c <= 0x2b) || (0x2d <= c && c <= 0x3a) || (0x3c <= c && c <= 0x5b) || (0x5d <= c && c <= 0x7e)
}
