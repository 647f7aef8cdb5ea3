package infra

import "github.com/aws/jsii-runtime-go"

// documents names the SSM documents; the instance package's documents are
// created under these names.
func (s *Stack) documents() Documents {
	name := func(kind string) *string { return jsii.String("greenlight-" + s.Config.App + "-" + kind) }
	return Documents{Deploy: name("deploy"), Maintenance: name("maintenance"), Data: name("data")}
}
