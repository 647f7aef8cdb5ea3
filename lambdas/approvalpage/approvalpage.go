// Package approvalpage serves the approval links of the notification, from
// a Lambda function URL (and, locally, from the engine's loopback host).
// A GET shows a confirm page and changes nothing: mail scanners fetch
// links before people do. Only the page's form, posted with its
// anti-forgery token, answers, and only once: the answer is claimed in
// the ledger (a conditional write) before it is sent to the task token,
// exactly as `greenlight approve|reject` sends it.
package approvalpage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/greenlight/greenlight/internal/answer"
	"github.com/greenlight/greenlight/internal/approvallink"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Handler serves the approval page.
type Handler struct {
	D *step.Deps
	// Insecure is for the local engine's plain-HTTP loopback host: the
	// form's cookie goes without Secure (and its __Host- prefix).
	Insecure bool
}

// MaxReason bounds a rejection's reason, as the form does.
const MaxReason = 500

// Serve answers one request to the function URL. It never fails the
// invocation: every problem is a page saying what to do.
func (h Handler) Serve(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	method := req.RequestContext.HTTP.Method
	if method != http.MethodGet && method != http.MethodHead && method != http.MethodPost {
		return h.refuse(http.StatusMethodNotAllowed, "Not here", "The approval page answers links from the notification: open one of them.", ""), nil
	}
	now := h.D.Now().UTC()
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return h.refuse(http.StatusBadRequest, "This link is incomplete", "Its query cannot be read. Open the link from the notification again.", ""), nil
	}
	key, err := h.D.LinkKey(ctx)
	if err != nil {
		h.D.Log.ErrorContext(ctx, "approval page: no signing key", "error", err.Error())
		return h.refuse(http.StatusServiceUnavailable, "The approval page cannot check links right now",
			"It could not read its signing key. Try again in a minute, or answer from a terminal.", "greenlight approve "+q.Get("release")), nil
	}
	link, err := approvallink.Parse(key, q, now)
	switch {
	case errors.Is(err, approvallink.ErrExpired):
		// The signature held: the release id is the one greenlight sent.
		return h.refuse(http.StatusGone, "This link has expired",
			fmt.Sprintf("The approval of %s ended at %s. A release nobody answered by then is rolled back.", q.Get("release"), stamp(link.Expires)),
			"greenlight status "+q.Get("release")), nil
	case errors.Is(err, approvallink.ErrMalformed):
		return h.refuse(http.StatusBadRequest, "This link is incomplete",
			"Part of it is missing or unreadable: it may have been cut when it was copied. Open it from the notification again.", ""), nil
	case err != nil:
		return h.refuse(http.StatusForbidden, "This link is not valid",
			"It does not match a link greenlight sent: a character may have been lost or changed. Open it from the notification again, or answer from a terminal.", ""), nil
	case link.App != h.D.Env.App:
		return h.refuse(http.StatusForbidden, "This link is not valid", "It was sent for another application's releases.", ""), nil
	}
	rec, err := h.D.Ledger().Get(ctx, link.App, link.ReleaseID)
	if errors.Is(err, ledger.ErrNotFound) {
		return h.refuse(http.StatusNotFound, "No such release", "greenlight has no release "+link.ReleaseID+" of "+link.App+".", "greenlight history"), nil
	}
	if err != nil {
		h.D.Log.ErrorContext(ctx, "approval page: read the ledger", "release", link.ReleaseID, "error", err.Error())
		return h.refuse(http.StatusServiceUnavailable, "Try again in a minute", "The release's record could not be read.", ""), nil
	}
	if refusal, ok := notOpen(rec); ok {
		return page(refusal.Status, approvallink.RefusalPage, refusal, nil), nil
	}
	if method != http.MethodPost {
		return h.confirm(rec, link, key, req.RawQueryString, now), nil
	}
	return h.answer(ctx, req, rec, link, key, now), nil
}

// notOpen says why a release's approval cannot be answered, if it cannot.
func notOpen(rec ledger.Record) (approvallink.Refusal, bool) {
	if a := rec.Answer; a != nil {
		return approvallink.Refusal{Status: http.StatusConflict, Title: "Already answered",
			Message: fmt.Sprintf("The approval of %s %s was %s.", rec.App, rec.Version, a.String()),
			Hint:    "greenlight status " + rec.ReleaseID}, true
	}
	if rec.Status != ledger.StatusAwaitingApproval || rec.Token == "" {
		return approvallink.Refusal{Status: http.StatusConflict, Title: "This release no longer waits for approval",
			Message: fmt.Sprintf("%s %s (%s) is %s now: there is nothing to answer.", rec.App, rec.Version, rec.ReleaseID, rec.Status),
			Hint:    "greenlight status " + rec.ReleaseID}, true
	}
	return approvallink.Refusal{}, false
}

// confirm shows the release and the one button, with a fresh
// anti-forgery token in the form and in a cookie. The form posts to the
// link itself: its query carries the signed fields.
func (h Handler) confirm(rec ledger.Record, link approvallink.Link, key []byte, rawQuery string, now time.Time) events.LambdaFunctionURLResponse {
	token, err := approvallink.NewFormToken(key, link)
	if err != nil {
		return h.refuse(http.StatusServiceUnavailable, "Try again in a minute", "The page could not make its form.", "")
	}
	p := approvallink.Confirm{Link: link, Version: rec.Version, UploadedBy: rec.UploadedBy, StartedAt: rec.StartedAt,
		Candidates: candidates(rec), Smoke: smoke(rec.Smoke), Now: now, FormToken: token, PostURL: "?" + rawQuery}
	return page(http.StatusOK, approvallink.ConfirmPage, p, []string{approvallink.Cookie(!h.Insecure, token, link, now)})
}

// answer takes the posted answer: the form must come from the confirm
// page (its token in the cookie and the form), the ledger must take it as
// the answer that stands, then Step Functions must take it.
func (h Handler) answer(ctx context.Context, req events.LambdaFunctionURLRequest, rec ledger.Record, link approvallink.Link, key []byte, now time.Time) events.LambdaFunctionURLResponse {
	form, err := formOf(req)
	if err != nil {
		return h.refuse(http.StatusBadRequest, "The form could not be read", "Open the link again and press the button.", "")
	}
	if err := approvallink.CheckFormToken(key, link, cookie(req, approvallink.CookieName(!h.Insecure)), form.Get("form")); err != nil {
		return h.refuse(http.StatusForbidden, "Open the link again",
			"This answer did not come from the page the link shows (or the page is too old): nothing was changed. Open the link from the notification and press its button.", "")
	}
	reason := strings.TrimSpace(form.Get("reason"))
	approve := link.Action == approvallink.Approve
	switch {
	case !approve && reason == "":
		return h.refuse(http.StatusBadRequest, "Say why", "A rejection needs a reason: it goes to the rollback's notification. Go back and write one.", "")
	case utf8.RuneCountInString(reason) > MaxReason:
		return h.refuse(http.StatusBadRequest, "The reason is too long", fmt.Sprintf("Keep it under %d characters.", MaxReason), "")
	}
	if approve {
		reason = ""
	}
	client := req.RequestContext.HTTP.SourceIP
	ua := req.RequestContext.HTTP.UserAgent
	if len(ua) > 200 {
		ua = ua[:200]
	}
	claim := ledger.Answer{Approved: approve, By: "approval link from " + client, Via: ledger.AnswerViaLink, At: now,
		Reason: reason, Client: client, UserAgent: ua}
	won, err := h.D.Ledger().ClaimAnswer(ctx, rec.App, rec.ReleaseID, rec.Token, claim)
	if err != nil {
		h.D.Log.ErrorContext(ctx, "approval page: claim the answer", "release", rec.ReleaseID, "error", err.Error())
		return h.refuse(http.StatusServiceUnavailable, "Try again in a minute", "The answer could not be recorded; nothing was changed.", "")
	}
	if !won {
		// Answered meanwhile (another click, the CLI), or moved on.
		cur, err := h.D.Ledger().Get(ctx, rec.App, rec.ReleaseID)
		if refusal, ok := notOpen(cur); err == nil && ok {
			return page(refusal.Status, approvallink.RefusalPage, refusal, nil)
		}
		return h.refuse(http.StatusConflict, "Already answered", "This approval was answered meanwhile.", "greenlight status "+rec.ReleaseID)
	}
	err = answer.Send(ctx, h.D.AWS.SFN, rec.Token, release.Approval{Approved: approve, By: claim.By, Reason: reason, At: now})
	if err != nil {
		// Step Functions did not take it: the ledger must not say it did.
		if derr := h.D.Ledger().DropClaim(ctx, rec.App, rec.ReleaseID, claim); derr != nil {
			h.D.Log.ErrorContext(ctx, "approval page: take back the answer", "release", rec.ReleaseID, "error", derr.Error())
		}
		if answer.TaskEnded(err) {
			return h.refuse(http.StatusConflict, "This release no longer waits for approval",
				"Its approval ended (it timed out, or the release stopped) before your answer arrived: nothing was changed.", "greenlight status "+rec.ReleaseID)
		}
		h.D.Log.ErrorContext(ctx, "approval page: send the answer", "release", rec.ReleaseID, "error", step.ErrorCode(err))
		return h.refuse(http.StatusServiceUnavailable, "Try again in a minute", "Step Functions did not take the answer; nothing was changed.", "")
	}
	verb := "approved"
	if !approve {
		verb = "rejected"
	}
	h.D.Did(ctx, rec.ReleaseID, "approval-answered", "answer", verb, "via", ledger.AnswerViaLink, "client", client)
	// The token is spent; the timeline says who answered and how.
	if err := h.D.Ledger().ClearToken(ctx, rec.App, rec.ReleaseID, rec.Token); err != nil {
		h.D.Log.WarnContext(ctx, "approval page: clear the token", "release", rec.ReleaseID, "error", err.Error())
	}
	detail := verb + " via an approval link from " + client
	if ua != "" {
		detail += " (" + ua + ")"
	}
	if reason != "" {
		detail += ": " + reason
	}
	if err := h.D.Ledger().Update(ctx, rec.App, rec.ReleaseID, ledger.Change{Event: &ledger.Event{Step: release.StateAwaitApproval, Detail: detail}}); err != nil {
		h.D.Log.WarnContext(ctx, "approval page: record the answer", "release", rec.ReleaseID, "error", err.Error())
	}
	return page(http.StatusOK, approvallink.OutcomePage, approvallink.Outcome{Link: link, Version: rec.Version, Approved: approve,
		By: claim.By, Reason: reason, At: now, Follow: "greenlight status " + rec.ReleaseID + " --watch"}, nil)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// candidates are the instances the approver can try.
func candidates(rec ledger.Record) []approvallink.Candidate {
	if rec.Smoke != nil && len(rec.Smoke.Instances) > 0 {
		var out []approvallink.Candidate
		for _, i := range rec.Smoke.Instances {
			out = append(out, approvallink.Candidate{InstanceID: i.InstanceID, Zone: i.AZ, Address: i.Target})
		}
		return out
	}
	if rec.CandidateInstance == "" {
		return nil
	}
	// The address the smoke tests reached (with the app's port), else
	// the candidate's.
	addr := rec.CandidateAddress
	if rec.Smoke != nil && rec.Smoke.Target != "" {
		addr = rec.Smoke.Target
	}
	return []approvallink.Candidate{{InstanceID: rec.CandidateInstance, Address: addr}}
}

// smoke is the ledger's smoke report as the page shows it.
func smoke(r *release.Report) *approvallink.Smoke {
	if r == nil {
		return nil
	}
	out := &approvallink.Smoke{Target: r.Target, Passed: r.Passed, Checks: checks(r.Checks)}
	for _, i := range r.Instances {
		out.Instances = append(out.Instances, approvallink.SmokeInstance{InstanceID: i.InstanceID, Zone: i.AZ, Target: i.Target, Passed: i.Passed, Checks: checks(i.Checks)})
	}
	return out
}

func checks(list []release.CheckResult) []approvallink.Check {
	var out []approvallink.Check
	for _, c := range list {
		out = append(out, approvallink.Check{Name: c.Name, URL: c.URL, Status: c.Status, LatencyMS: c.LatencyMS, Passed: c.Passed, Problem: c.Problem})
	}
	return out
}

// formOf reads a posted form; a function URL may hand the body over
// base64-encoded ("Invoking Lambda function URLs", request payload,
// isBase64Encoded: /lambda/latest/dg/urls-invocation.html).
func formOf(req events.LambdaFunctionURLRequest) (url.Values, error) {
	body := req.Body
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, err
		}
		body = string(b)
	}
	if len(body) > 16<<10 {
		return nil, errors.New("form too large")
	}
	return url.ParseQuery(body)
}

// cookie finds a cookie's value. A function URL passes the request's
// cookies in the cookies array, not in the headers (same page).
func cookie(req events.LambdaFunctionURLRequest, name string) string {
	all := req.Cookies
	if h := req.Headers["cookie"]; h != "" {
		all = append(all, strings.Split(h, ";")...)
	}
	for _, c := range all {
		k, v, ok := strings.Cut(strings.TrimSpace(c), "=")
		if ok && k == name {
			return v
		}
	}
	return ""
}

// refuse is a refusal page.
func (h Handler) refuse(status int, title, message, hint string) events.LambdaFunctionURLResponse {
	return page(status, approvallink.RefusalPage, approvallink.Refusal{Status: status, Title: title, Message: message, Hint: hint}, nil)
}

// page renders one page with the headers every page carries: never
// cached, never framed, no scripts, and no Referer (a click on the
// candidate's address must not hand the link to the candidate).
func page[P any](status int, render func(P) ([]byte, error), p P, cookies []string) events.LambdaFunctionURLResponse {
	body, err := render(p)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte("greenlight: the page could not be rendered")
	}
	return events.LambdaFunctionURLResponse{StatusCode: status, Body: string(body), Cookies: cookies, Headers: map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	}}
}
