#!/usr/bin/env bash
# Terraform for one environment: the root module every environment shares (deploy/terraform/environment)
# with the settings and state of deploy/terraform/environments/<env>/.
#
#   deploy/terraform/terraform.sh <env> init|plan|apply|destroy|output|... [terraform's arguments]
#
# init reads <env>/backend.hcl; plan, apply, destroy, import, console and refresh read
# <env>/environment.tfvars, then <env>/terraform.tfvars when it exists. Each environment has its own
# working directory (TF_DATA_DIR=<env>/.terraform: providers, modules, the state the backend points
# at), so initialising one environment never leaves another's state selected. TERRAFORM=path: another
# terraform binary. Paths in terraform's arguments (-out=, a saved plan) are relative to environment/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

valid=$(for dir in "$here"/environments/*/; do dir=${dir%/}; printf '%s ' "${dir##*/}"; done)
usage="usage: $0 <environment> <terraform command> [arguments]; environments: ${valid% }"
if (($# < 2)); then
    echo "$usage" >&2
    exit 2
fi
environment=$1 command=$2
shift 2
dir=$here/environments/$environment
if [[ ! -f $dir/environment.tfvars ]]; then
    echo "terraform.sh: unknown environment '$environment' (no $dir/environment.tfvars); $usage" >&2
    exit 2
fi

args=()
case $command in
init)
    if [[ ! -f $dir/backend.hcl ]]; then
        echo "terraform.sh: write $dir/backend.hcl first (the bootstrap's output backend_config; see backend.hcl.example)" >&2
        exit 2
    fi
    args=(-backend-config="$dir/backend.hcl")
    ;;
plan | apply | destroy | import | console | refresh)
    args=(-var-file="$dir/environment.tfvars")
    [[ -f $dir/terraform.tfvars ]] && args+=(-var-file="$dir/terraform.tfvars")
    # A saved plan (apply's only positional argument) already holds its variables.
    if [[ $command == apply ]]; then
        for arg in "$@"; do [[ $arg == -* ]] || args=(); done
    fi
    ;;
esac

export TF_DATA_DIR=$dir/.terraform
exec "${TERRAFORM:-terraform}" -chdir="$here/environment" "$command" "${args[@]}" "$@"
