# `docker buildx bake` builds both images in one run; they share the Dockerfile's
# `build` stage, so the workspace is compiled once.
#   VERSION=0.1.0 REVISION=$(git rev-parse HEAD) REGISTRY=registry.example.com docker buildx bake --push
variable "REGISTRY" { default = "ghcr.io/replenish" }
variable "VERSION" { default = "0.1.0" }
variable "REVISION" { default = "unknown" }
variable "CREATED" { default = "" }

group "default" { targets = ["app", "operator"] }

target "_common" {
  context = "."
  dockerfile = "Dockerfile"
  args = { VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
}

target "app" {
  inherits = ["_common"]
  target = "app"
  tags = ["${REGISTRY}/replenish:${VERSION}"]
}

target "operator" {
  inherits = ["_common"]
  target = "operator"
  tags = ["${REGISTRY}/replenish-operator:${VERSION}"]
}
