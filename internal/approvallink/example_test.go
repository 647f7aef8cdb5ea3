package approvallink_test

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/greenlight/greenlight/internal/approvallink"
)

func ExampleURL() {
	key := []byte("example key, never a real one") // real keys come from the secret store
	deadline := time.Date(2026, 3, 3, 10, 15, 0, 0, time.UTC)
	l := approvallink.Link{App: "shop", ReleaseID: "shop-1.4.0-0a1b2c3d4e", Action: approvallink.Reject, Expires: deadline}

	link := approvallink.URL(key, "http://127.0.0.1:4567/approval", l)
	fmt.Println(link)

	u, _ := url.Parse(link)
	got, err := approvallink.Parse(key, u.Query(), deadline.Add(-time.Hour))
	fmt.Println(got.ReleaseID, got.Action, err)

	_, err = approvallink.Parse(key, u.Query(), deadline)
	fmt.Println(errors.Is(err, approvallink.ErrExpired))
	// Output:
	// http://127.0.0.1:4567/approval?action=reject&app=shop&exp=1772532900&release=shop-1.4.0-0a1b2c3d4e&sig=KNJKwWcoiyjLj_7CDm2jgUOmg60q4cPv4Oj-X7EiBZ8
	// shop-1.4.0-0a1b2c3d4e reject <nil>
	// true
}
