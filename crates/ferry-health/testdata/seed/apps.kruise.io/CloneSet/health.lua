hs = {}
-- if paused
if obj.spec.updateStrategy.paused then
  hs.status = "Suspended"
  hs.message = "CloneSet is Suspended"
  return hs
end

-- check cloneSet status
if obj.status ~= nil then
  if obj.status.observedGeneration < obj.metadata.generation then
    hs.status = "Progressing"
    hs.message = "Waiting for rollout to finish: observed cloneSet generation less then desired generation"
    return hs
  end

  if obj.status.updatedReplicas < obj.spec.replicas then
    hs.status = "Progressing"
    hs.message = "Waiting for rollout to finish: replicas hasn't finished updating..."
    return hs
  end

  if obj.status.updatedReadyReplicas < obj.status.updatedReplicas then
    hs.status = "Progressing"
    hs.message = "Waiting for rollout to finish: replicas hasn't finished updating..."
    return hs
  end

  hs.status = "Healthy"
  return hs
end

-- if status == nil
hs.status = "Progressing"
hs.message = "Waiting for cloneSet"
return hs
