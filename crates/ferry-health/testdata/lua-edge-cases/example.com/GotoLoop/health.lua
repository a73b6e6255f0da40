hs = {status = 'Healthy', message = ''}
for i = 1, obj.spec.size do
  if i % 2 == 0 then goto continue end
  hs.message = hs.message .. i
  ::continue::
end
return hs
