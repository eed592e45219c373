-- Argo CD health check for payloads.durable-workflow.io/ExternalPayloadStorage.
--   Healthy      Ready is True for the current metadata.generation, and so is status.observedGeneration
--   Degraded     Ready is False for the current generation (the message carries the reason)
--   Progressing  no status yet, Ready Unknown, or Ready or status computed for an older generation
-- Installed through argocd-cm (see kustomization.yaml next to this file).
local hs = { status = "Progressing", message = "Waiting for the operator to report Ready" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    local observed = condition.observedGeneration
    if observed == nil then
      observed = obj.status.observedGeneration
    end
    if generation ~= nil and observed ~= generation then
      hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
      return hs
    end
    local reason = condition.reason or ""
    local message = condition.message or ""
    if message == "" then
      message = reason
    elseif reason ~= "" then
      message = reason .. ": " .. message
    end
    if condition.status == "True" then
      hs.status = "Healthy"
      hs.message = message
    elseif condition.status == "False" then
      hs.status = "Degraded"
      hs.message = message
    else
      hs.message = "Ready is Unknown: " .. message
    end
    return hs
  end
end
return hs
