// A copy button on every code block, [data-copy] buttons that copy an element (or their
// data-copy-text), and the docs menu closed on small screens. No request leaves the page.
(function () {
  if (window.imgproCopy) return; // pages may include this script twice; one set of buttons
  window.imgproCopy = true;
  function addCopy(pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      var text = pre.querySelector("code") ? pre.querySelector("code").innerText : pre.innerText;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    });
    pre.classList.add("has-copy");
    pre.appendChild(button);
  }
  document.querySelectorAll("pre").forEach(addCopy);
  // data-copy names the element whose text to copy; data-copy-text holds the text itself
  document.querySelectorAll("[data-copy], [data-copy-text]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy-text");
      if (text === null) {
        var target = document.getElementById(button.getAttribute("data-copy"));
        text = target.value !== undefined ? target.value : target.innerText;
      }
      navigator.clipboard.writeText(text).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
  var menu = document.querySelector(".docs-menu");
  if (menu && window.matchMedia("(max-width: 860px)").matches) menu.open = false;
})();
