# Sourced by the other scripts: picks pnpm 9 (the one the lockfile was made with), installing
# nothing globally: when pnpm 9 is not on the PATH it runs through npx.
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
if command -v pnpm >/dev/null 2>&1 && [[ "$(pnpm --version 2>/dev/null)" == 9.* ]]; then
  PNPM=(pnpm)
else
  PNPM=(npx --yes pnpm@9.15.9)
fi
export DURABLE_PNPM="${PNPM[*]}"
