--[[
    PluginInfoProvider.lua - the plug-in's settings in File > Plug-in Manager.

    Lightroom started from the Finder or the Start menu does not see the shell's PATH,
    so the blurwatch program is best given with its full path here.
]]

local LrView = import "LrView"
local LrPrefs = import "LrPrefs"

local Cull = require "BlurwatchCull"

local function sectionsForTopOfDialog(f, propertyTable)
  local prefs = LrPrefs.prefsForPlugin()
  prefs.executable = Cull.executable()
  local bind = LrView.bind
  return {
    {
      title = LOC "$$$/blurwatch/Settings=blurwatch",
      bind_to_object = prefs,
      f:row {
        f:static_text { title = LOC "$$$/blurwatch/Executable=blurwatch program:" },
        f:edit_field { value = bind "executable", width_in_chars = 40 },
      },
      f:static_text {
        title = LOC "$$$/blurwatch/ExecutableHelp=The full path of blurwatch, e.g. /opt/homebrew/bin/blurwatch.",
      },
    },
  }
end

return { sectionsForTopOfDialog = sectionsForTopOfDialog }
