local replicas = tonumber(actionParams["replicas"])
if replicas == nil then
  error("invalid number: " .. tostring(actionParams["replicas"]), 0)
end
obj.spec.replicas = replicas
return obj
