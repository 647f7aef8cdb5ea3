package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/release"
)

// documents creates the SSM Command documents the workflow runs on
// instances (deploy, maintenance, data) and returns their names (their
// Ref, so each function that sends one depends on it).
//
// The documents are named greenlight-<app>-<name> rather than left to
// CloudFormation: the name is what operators see in the Run Command
// console and what IAM policies and the local engine can predict. A
// named document cannot be replaced in place, so UpdateMethod NewVersion
// turns a changed script into a new default version of the same
// document instead of a replacement.
func (s *Stack) documents() Documents {
	out := map[string]awsssm.CfnDocument{}
	for _, d := range instance.Documents() {
		out[d.Name] = awsssm.NewCfnDocument(s.Stack, jsii.String(documentID(d.Name)), &awsssm.CfnDocumentProps{
			Name:           jsii.String(d.FullName(s.Config.App)),
			DocumentType:   jsii.String("Command"),
			DocumentFormat: jsii.String("JSON"),
			Content:        d.Content(),
			TargetType:     jsii.String("/AWS::EC2::Instance"),
			UpdateMethod:   jsii.String("NewVersion"),
			Tags: &[]*awscdk.CfnTag{
				{Key: jsii.String(release.TagApp), Value: jsii.String(s.Config.App)},
			},
		})
	}
	return Documents{Deploy: out[instance.Deploy].Ref(), Maintenance: out[instance.Maintenance].Ref(), Data: out[instance.Data].Ref()}
}

// documentID is a document's construct id: "deploy" becomes
// "DeployDocument".
func documentID(name string) string {
	if name == "" {
		return "Document"
	}
	b := []byte(name)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b) + "Document"
}
