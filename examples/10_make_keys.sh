#!/bin/sh
# Run:  sh examples/10_make_keys.sh [DIR]     (DIR defaults to ./keys)
# The seed chapter's OpenSSL steps, done by `nodish cert`, each beside the openssl
# command it replaces. Every file is one openssl reads; keys are written mode 0600.
set -e
NODISH="${NODISH:-python -m nodish}"
DIR="${1:-keys}"
mkdir -p "$DIR"
cd "$DIR"

# the CA: a key, then a self-signed CA certificate
#   openssl genrsa -out ca.key 2048
#   openssl req -new -x509 -key ca.key -subj "/CN=nodish Example CA" -out ca.crt
$NODISH cert key -o ca.key
$NODISH cert ca --key ca.key --cn "nodish Example CA" -o ca.crt

# the server: a key, its public key, a CSR, the certificate signed by the CA
#   openssl genrsa -out server.key 2048
#   openssl rsa -in server.key -pubout -out server.pem
#   openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
#   openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -in server.csr -out server.crt
$NODISH cert key -o server.key
$NODISH cert pubkey server.key -o server.pem
$NODISH cert csr --key server.key --cn localhost --san localhost --san 127.0.0.1 -o server.csr
$NODISH cert sign server.csr --ca ca.crt --ca-key ca.key -o server.crt

# the client, for mutual TLS, in one step (key + certificate issued by the CA)
$NODISH cert client client --ca ca.crt --ca-key ca.key --cert-out client.crt --key-out client.key

echo "keys written to $DIR: ca.crt server.key server.crt client.key client.crt"
