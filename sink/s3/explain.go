package s3

import (
	"context"
	"errors"
	"net"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Explain says in plain words what an S3 error most likely means and what
// to change, for `odsync check` and the sink's status: the network near the
// warehouse (endpoints, firewalls, allow-lists), credentials and bucket
// policy, and bucket names and regions are the usual causes. "" when there
// is nothing better to say than the error itself.
func Explain(err error, cfg Config) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "the AWS endpoint of region " + cfg.Region
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case code == "NoSuchBucket" || (status == 404 && (code == "" || code == "NotFound")):
		return "bucket " + cfg.Bucket + " does not exist at " + endpoint + ": create it, or fix sinks[].s3.bucket / endpoint / region"
	case code == "InvalidAccessKeyId":
		return "the access key id is unknown to " + endpoint + ": check access_key_id (or the instance role / AWS_PROFILE in use)"
	case code == "SignatureDoesNotMatch":
		return "the secret does not match the access key id: check secret_access_key (or its file / environment variable)"
	case code == "AccessDenied":
		return "credentials accepted but access refused: the policy must allow s3:ListBucket on the bucket and s3:PutObject, s3:GetObject, s3:DeleteObject, s3:AbortMultipartUpload on " + cfg.Bucket + "/" + cfg.Prefix + "*"
	case status == 403:
		// HEAD answers carry no error code: wrong keys and a refusing
		// policy look the same.
		return "access refused (HTTP 403): either the keys are wrong (check access_key_id and the secret_access_key, or the role in use) or the bucket policy does not allow s3:ListBucket on " + cfg.Bucket + " and s3:PutObject/GetObject/DeleteObject/AbortMultipartUpload on " + cfg.Bucket + "/" + cfg.Prefix + "*"
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == 301:
		return "the bucket is in another region: set sinks[].s3.region to the bucket's region"
	case errors.As(err, &dnsErr):
		return "the endpoint's host name does not resolve (" + dnsErr.Name + "): check sinks[].s3.endpoint and DNS on this host"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "i/o timeout"):
		return "no answer from " + endpoint + " in time: a firewall, an allow-list or a missing VPC/private endpoint route drops the traffic"
	case errors.As(err, &opErr) && strings.Contains(err.Error(), "connection refused"):
		return "nothing listens at " + endpoint + ": check sinks[].s3.endpoint (scheme, host and port)"
	}
	return ""
}
