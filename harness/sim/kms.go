package sim

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/internal/release"
)

// EBS encryption with KMS keys. What is modelled, and where AWS says so:
//
//   - The account's default KMS key for EBS encrypts every encrypted volume
//     created without a key, and with encryption by default every new
//     volume is encrypted ("GetEbsDefaultKmsKeyId", "GetEbsEncryptionByDefault"
//     and "EnableEbsEncryptionByDefault", Amazon EC2 API Reference:
//     /AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html,
//     /AWSEC2/latest/APIReference/API_GetEbsEncryptionByDefault.html,
//     /AWSEC2/latest/APIReference/API_EnableEbsEncryptionByDefault.html).
//     Unchanged, the default key is the AWS managed key alias/aws/ebs.
//   - A volume created under a customer managed key makes EBS call KMS on
//     the caller's behalf, as the caller: DescribeKey and a new data key
//     (GenerateDataKeyWithoutPlaintext), or the source's data key
//     re-encrypted (ReEncryptFrom on the source's key, ReEncryptTo on the
//     new one) when it is restored from something under another key; and
//     attaching it to an instance (at launch, or AttachVolume) makes EC2
//     create a grant for itself (CreateGrant, with kms:GrantIsForAWSResource)
//     and decrypt the data key (Decrypt). Every such request carries
//     kms:ViaService ec2.<region>.amazonaws.com. ("Requirements for Amazon
//     EBS encryption", Amazon EBS User Guide:
//     /ebs/latest/userguide/ebs-encryption-requirements.html, which lists
//     kms:CreateGrant with kms:GrantIsForAWSResource, kms:Decrypt,
//     kms:DescribeKey, kms:GenerateDataKeyWithoutPlainText and
//     kms:ReEncrypt as the permissions users need; "How unusable KMS keys
//     affect data keys", AWS KMS Developer Guide:
//     /kms/latest/developerguide/unusable-kms-keys.html; AWS re:Post
//     Knowledge Center, on an instance that goes from pending to stopped
//     for want of KMS permissions: repost.aws/knowledge-center/kms-iam-ec2-permission.)
//   - The AWS managed key needs no IAM permission: its key policy allows
//     every principal of the account using it through EC2 ("Required AWS
//     KMS key policy for use with encrypted volumes", Amazon EC2 Auto
//     Scaling User Guide: /autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html).
//     Its use is not recorded.
//   - A key the caller may not use (a KMS call refused, which is how a
//     missing IAM permission shows; tests inject it as a fault on
//     ServiceKMS), a disabled key or one the account does not have makes
//     the launch fail after the call succeeded: the instance goes from
//     pending to terminated with state reason Client.InternalError ("Client
//     error on launch"; "StateReason", Amazon EC2 API Reference:
//     /AWSEC2/latest/APIReference/API_StateReason.html, and the re:Post page
//     above; "ModifyEbsDefaultKmsKeyId": "If you delete or disable the
//     customer managed KMS key ... your instances will fail to launch",
//     /AWSEC2/latest/APIReference/API_ModifyEbsDefaultKmsKeyId.html); a
//     volume created under it goes to the error state (EBS "authenticates
//     the KMS key asynchronously ... the action can appear to complete, but
//     eventually fails", KmsKeyId of "ModifyEbsDefaultKmsKeyId" above and of
//     "CreateVolume", /AWSEC2/latest/APIReference/API_CreateVolume.html).
//
// Not modelled: KMS calls for CreateSnapshot (the snapshot stays under its
// volume's key) and CopySnapshot (greenlight does not copy), key policies,
// and a refused attach of an existing volume (the calls are recorded, the
// attach goes on).

// Encryption is the account's EBS encryption settings in the region and
// the customer managed KMS keys it has.
type Encryption struct {
	// ByDefault is EBS encryption by default: every new volume is
	// encrypted, whatever the request says.
	ByDefault bool
	// DefaultKey is the ARN of the default KMS key for EBS; "" keeps the
	// AWS managed key (alias/aws/ebs). It is one of the account's keys
	// whether or not Keys lists it.
	DefaultKey string
	// Keys are the account's customer managed keys.
	Keys []KMSKey
}

// KMSKey is one customer managed KMS key.
type KMSKey struct {
	ARN      string   // arn:aws:kms:<region>:<account>:key/<id>
	Aliases  []string // "alias/<name>"
	Disabled bool     // no cryptographic operation succeeds
}

// KMSRequest is the Input of a KMS call EC2 or EBS made on a caller's
// behalf (Call.Service ServiceKMS): what IAM sees of it.
type KMSRequest struct {
	// KeyID is the ARN of the key used (an alias the request named is
	// resolved to its key, as KMS authorizes the key).
	KeyID string
	// ViaService is kms:ViaService: "ec2.<region>.amazonaws.com".
	ViaService string
	// CallerAccount is kms:CallerAccount.
	CallerAccount string
	// GrantIsForAWSResource is kms:GrantIsForAWSResource (CreateGrant).
	GrantIsForAWSResource bool
	// ResourceAliases are the key's aliases, kms:ResourceAliases.
	ResourceAliases []string
	// EncryptionContext is the request's encryption context
	// ({"aws:ebs:id": "vol-…"}).
	EncryptionContext map[string]string
	// For is the EC2 operation the call was made for.
	For string
}

// awsManagedEBSKey is the alias of the AWS managed key for EBS.
const awsManagedEBSKey = "alias/aws/ebs"

// IsAWSManagedEBSKey reports whether a key identifier names the AWS
// managed key for EBS (alias/aws/ebs, bare or as an alias ARN).
func IsAWSManagedEBSKey(id string) bool { return release.IsAWSManagedEBSKey(id) }

// defaultKey is the ARN of the default KMS key for EBS. Called with r.mu
// held.
func (r *Region) defaultKey() string {
	if k := r.opts.Encryption.DefaultKey; k != "" {
		return k
	}
	return r.arn("kms", awsManagedEBSKey)
}

// key finds a customer managed key by key ARN, key id, alias name or
// alias ARN.
func (r *Region) key(id string) (KMSKey, bool) {
	keys := r.opts.Encryption.Keys
	if d := r.opts.Encryption.DefaultKey; d != "" && !slices.ContainsFunc(keys, func(k KMSKey) bool { return k.ARN == d }) {
		keys = append(slices.Clip(keys), KMSKey{ARN: d})
	}
	for _, k := range keys {
		if k.ARN == id || strings.HasSuffix(k.ARN, ":key/"+id) {
			return k, true
		}
		for _, a := range k.Aliases {
			if id == a || id == r.arn("kms", a) {
				return k, true
			}
		}
	}
	return KMSKey{}, false
}

// resolveKey turns the key a request names into the ARN the volume is
// encrypted under: the key's ARN when the account has it, the AWS managed
// key's alias ARN for alias/aws/ebs, else the identifier as given (a key
// EBS will fail to use).
func (r *Region) resolveKey(id string) string {
	if IsAWSManagedEBSKey(id) {
		return r.arn("kms", awsManagedEBSKey)
	}
	if k, ok := r.key(id); ok {
		return k.ARN
	}
	return id
}

// volumeKey decides whether a new volume is encrypted and under which key:
// the key the request names; else the source snapshot's; else, when the
// request asks for encryption or the account encrypts by default, the
// default key. Called with r.mu held.
func (r *Region) volumeKey(requested bool, keyID string, src *snapshot) (bool, string) {
	switch {
	case keyID != "":
		return true, r.resolveKey(keyID)
	case src != nil && src.encrypted:
		return true, src.kmsKeyID
	case requested || r.opts.Encryption.ByDefault:
		return true, r.defaultKey()
	}
	return false, ""
}

// keyUse is what EBS and EC2 do with the key of one volume.
type keyUse struct {
	key, from string // the volume's key; its source's key ("" if none)
	volumeID  string
	create    bool // the volume is being created (else attached)
	attach    bool // it is attached to an instance
}

// useKey records the KMS calls EBS and EC2 make on the caller's behalf
// for one volume under a customer managed key (none for the AWS managed
// key or an unencrypted volume) and reports whether the key could be
// used. An injected fault on ServiceKMS refuses the call it matches.
// Called with r.mu held, from inside a call.
func (r *Region) useKey(caller, op string, u keyUse) bool {
	if u.key == "" {
		return true
	}
	k, known := r.key(u.key)
	managed := IsAWSManagedEBSKey(u.key)
	ok := managed || (known && !k.Disabled)
	one := func(kmsOp, keyARN string, aliases []string) {
		req := &KMSRequest{KeyID: keyARN, ViaService: "ec2." + r.opts.Region + ".amazonaws.com", CallerAccount: r.opts.Account,
			GrantIsForAWSResource: kmsOp == "CreateGrant", ResourceAliases: aliases,
			EncryptionContext: map[string]string{"aws:ebs:id": u.volumeID}, For: op}
		err := r.injectedFault(ServiceKMS, kmsOp, caller)
		if err != nil {
			ok = false
		}
		r.implied = append(r.implied, Call{Caller: caller, Service: ServiceKMS, Operation: kmsOp, Code: ErrorCode(err), At: r.now(), Input: req})
	}
	if u.create {
		if src, srcKnown := r.key(u.from); u.from != "" && u.from != u.key && srcKnown && !IsAWSManagedEBSKey(u.from) {
			one("ReEncryptFrom", src.ARN, src.Aliases)
		}
		if !managed {
			one("DescribeKey", u.key, k.Aliases)
			if u.from != "" && u.from != u.key {
				one("ReEncryptTo", u.key, k.Aliases)
			} else {
				one("GenerateDataKeyWithoutPlaintext", u.key, k.Aliases)
			}
		}
	}
	if u.attach && !managed {
		one("CreateGrant", u.key, k.Aliases)
		one("Decrypt", u.key, k.Aliases)
	}
	return ok
}

// GetEbsEncryptionByDefault says whether the account encrypts new EBS
// volumes by default in the region.
func (e *EC2) GetEbsEncryptionByDefault(ctx context.Context, in *ec2.GetEbsEncryptionByDefaultInput, _ ...func(*ec2.Options)) (*ec2.GetEbsEncryptionByDefaultOutput, error) {
	return call(ctx, e.r, ServiceEC2, "GetEbsEncryptionByDefault", in, func(string) (*ec2.GetEbsEncryptionByDefaultOutput, error) {
		return &ec2.GetEbsEncryptionByDefaultOutput{EbsEncryptionByDefault: aws.Bool(e.r.opts.Encryption.ByDefault)}, nil
	})
}

// GetEbsDefaultKmsKeyId returns the ARN of the default KMS key for EBS:
// the AWS managed key's alias ARN until the account sets its own.
func (e *EC2) GetEbsDefaultKmsKeyId(ctx context.Context, in *ec2.GetEbsDefaultKmsKeyIdInput, _ ...func(*ec2.Options)) (*ec2.GetEbsDefaultKmsKeyIdOutput, error) {
	return call(ctx, e.r, ServiceEC2, "GetEbsDefaultKmsKeyId", in, func(string) (*ec2.GetEbsDefaultKmsKeyIdOutput, error) {
		return &ec2.GetEbsDefaultKmsKeyIdOutput{KmsKeyId: aws.String(e.r.defaultKey())}, nil
	})
}
