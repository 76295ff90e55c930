"""Prepares the peer (`lambda-terraform-module-registry` 0.2.5) on moto, run in the peer's own
venv: the KMS key its tokens are encrypted with, its DynamoDB table, the archives in S3 with a
SHA-256 checksum, the versions (through its own `Module` model, since its upload endpoint fails
with a TypeError), a download grant for a role, and a token minted for that role.

    python peer_setup.py MODULES_JSON        (environment: AWS_ENDPOINT_URL, TABLE, BUCKET)

MODULES_JSON is a list of {"name", "version", "archive"} (archive: a path to a .tar.gz).
Prints the token on stdout.
"""

import json
import os
import sys

import boto3

NAMESPACE = "bench"
SYSTEM = "aws"
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"


def main() -> None:
    modules = json.load(open(sys.argv[1]))
    table_name = os.environ["TABLE"]
    bucket = os.environ["BUCKET"]

    kms = boto3.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/terraform-registry", TargetKeyId=key_id)

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)

    # Imported only now: its config module builds its clients and table at import time.
    # peer_app applies the Python 3.11 shim (see there).
    import peer_app  # noqa: F401
    from registry.auth.bearer import IAMBearerAuth
    from registry.models import Module

    for module in modules:
        # The key ends in .tar.gz so that Terraform's getter knows to unpack it.
        key = f"{NAMESPACE}/{module['name']}/{SYSTEM}/{module['version']}/module.tar.gz"
        with open(module["archive"], "rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")
        checksum = s3.get_object_attributes(
            Bucket=bucket, Key=key, ObjectAttributes=["Checksum"]
        )["Checksum"]["ChecksumSHA256"]
        Module(
            namespace=NAMESPACE,
            system=SYSTEM,
            name=module["name"],
            version=module["version"],
            bucket=bucket,
            key=key,
            expected_checksum=checksum,
        ).create()

    IAMBearerAuth.create_grant(
        namespace=NAMESPACE,
        identifier=ROLE_ARN,
        permissions={"download": True},
    )
    print(IAMBearerAuth.make_token(role_arn=ROLE_ARN, expiration_seconds=50000))


if __name__ == "__main__":
    main()
