package localrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/approvallink"
)

// AnswerByLink answers a waiting release's approval as a person does from
// the notification: it opens the approve (or reject) link, which shows
// the confirm page and sets its form cookie, then posts the page's form.
// It returns the outcome page's status and text; an error only when the
// host could not be reached.
func (e *Env) AnswerByLink(ctx context.Context, releaseID string, approve bool, reason string) (int, string, error) {
	links, err := e.ApprovalLinks(ctx, releaseID)
	if err != nil {
		return 0, "", err
	}
	link := links.Approve
	if !approve {
		link = links.Reject
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	status, page, err := fetch(ctx, client, http.MethodGet, link, nil)
	if err != nil || status != http.StatusOK {
		return status, page, err
	}
	u, err := url.Parse(link)
	if err != nil {
		return 0, "", err
	}
	var token string
	for _, c := range jar.Cookies(u) {
		if c.Name == approvallink.CookieName(false) {
			token = c.Value
		}
	}
	if token == "" {
		return 0, "", fmt.Errorf("the confirm page of %s set no form cookie", releaseID)
	}
	form := url.Values{"form": {token}}
	if !approve {
		form.Set("reason", reason)
	}
	return fetch(ctx, client, http.MethodPost, link, form)
}

func fetch(ctx context.Context, client *http.Client, method, link string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, link, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
